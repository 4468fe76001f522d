#!/usr/bin/env bash
# Data-parallel MNIST on this machine: 1 process x 1 thread, 1 process x 2 threads and
# 2 ranks x 1 thread (mpirun), for the MLP (3 epochs) and the CNN (1 epoch on 12,000 rows);
# each configuration run REPEATS times (default 3), the fastest run reported. Prints a
# markdown table (README, "Data-parallel training").
#   scripts/bench-dist.sh [REPEATS]       # BUILD=folder to use another build (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats="${1:-3}"
dir="${BUILD:-build}"
exe="$dir/examples/dist-mnist"
scripts/build.sh "$dir" -Dmpi=enabled >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
echo
echo "| model | processes x threads | samples/s | test accuracy | gradient sums per step |"
echo "|---|---|---|---|---|"
for model in mlp cnn; do
    args=(--model "$model")
    [[ $model == cnn ]] && args+=(--rows 12000 --epochs 1)
    for setup in "1 1" "1 2" "2 1"; do
        read -r ranks threads <<<"$setup"
        best=0 line=""
        for _ in $(seq "$repeats"); do
            if [[ $ranks == 1 ]]; then
                out=$(RUBAN_NUM_THREADS=$threads "$exe" "${args[@]}" 2>&1)
            else
                out=$(mpirun --oversubscribe --bind-to none -np "$ranks" "$exe" "${args[@]}" 2>&1)
            fi
            rate=$(sed -n 's/^total: \([0-9]*\) samples.*/\1/p' <<<"$out")
            acc=$(sed -n 's/.*test accuracy \([0-9.]*%\).*/\1/p' <<<"$out")
            comm=$(sed -n 's/^communication: \([0-9.]* ms\) per step.*/\1/p' <<<"$out")
            if [[ -n $rate && $rate -gt $best ]]; then
                best=$rate
                [[ $ranks == 1 ]] && comm="-" # one process sums no gradients across ranks
                line="| $model | $ranks x $threads | $rate | $acc | ${comm} |"
            fi
        done
        echo "$line"
    done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
