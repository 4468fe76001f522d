#!/usr/bin/env bash
# Training throughput and peak memory of ruban and of the PyTorch reference, on the same machine,
# at 1 and 2 threads, in one run: samples/s, their ratio, the fraction of the machine's sgemm
# peak each reaches (matrix-product FLOPs of a training step / time, over the measured sgemm
# rate) and peak resident memory. Throughputs are the best of 5 timed runs (this machine kind's
# speed swings up to 2x from second to second, and noise only slows a run; the medians are in
# the CSV). ruban's fraction of peak is the median over runs of each run against the sgemm rate
# measured just before and after it; PyTorch's is ruban's scaled by their throughputs.
#
#   scripts/bench.sh [workload...]     workloads: mlp lenet cnn resnet lstm (default: all)
#
# The reference runs at its best: PyTorch's matrix products go through the system BLAS
# (libblas.so.3), so each BLAS on the machine (BLIS; OpenBLAS with each core type that runs
# here) is timed on the MLP first and the fastest is kept for every PyTorch command (only
# there: never in tests or CI). The table is written as markdown and CSV, with the CPU, to
# results/bench/ (latest.md, latest.csv and a dated copy).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h | --help)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
esac
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(mlp lenet cnn resnet lstm)
for w in "${workloads[@]}"; do
    case "$w" in mlp | lenet | cnn | resnet | lstm | gru | rnn) ;;
    *) echo "bench.sh: unknown workload '$w' (mlp lenet cnn resnet lstm gru rnn)" >&2; exit 2 ;;
    esac
done
scripts/setup.sh --bench >/dev/null
scripts/build.sh >/dev/null
field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<" $2"; }
multiarch=$(gcc -print-multiarch)

# ---- the reference's BLAS: every candidate timed on the MLP, the fastest kept ----
declare -A blas_dir=([blis]=/usr/lib/$multiarch/blis-openmp [openblas]=/usr/lib/$multiarch/openblas-openmp)
candidates=()
for blas in blis openblas; do
    [ -e "${blas_dir[$blas]}/libblas.so.3" ] || continue
    if [ "$blas" = openblas ]; then
        for core in unset Haswell SkylakeX Zen; do candidates+=("openblas:$core"); done
    else
        candidates+=("blis:-")
    fi
done
torch_env() { # the environment of a PyTorch command for candidate $1
    local blas=${1%%:*} core=${1#*:}
    echo "LD_LIBRARY_PATH=${blas_dir[$blas]}"
    [ "$blas" = openblas ] && [ "$core" != unset ] && echo "OPENBLAS_CORETYPE=$core"
    true
}
# Three rounds, candidates interleaved, each candidate's best round kept: a machine that is busy
# for a moment must not decide the choice.
declare -A rate_of loss_of
echo "choosing the reference's BLAS (PyTorch MLP, 1 thread, best of 3 rounds):"
for round in 1 2 3; do
    for c in "${candidates[@]}"; do
        [ "${rate_of[$c]:-}" = fails ] && continue
        if ! out=$(env $(torch_env "$c") OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_mlp.py \
            --threads 1 --steps 100 --repeats 3 2>/dev/null); then
            rate_of[$c]=fails
            continue
        fi
        rate=$(field samples_per_s "$out")
        loss_of[$c]=$(field final_loss "$out")
        if awk -v a="$rate" -v b="${rate_of[$c]:-0}" 'BEGIN { exit !(a > b) }'; then
            rate_of[$c]=$rate
        fi
    done
done
best="" best_rate=0
for c in "${candidates[@]}"; do
    if [ "${rate_of[$c]}" = fails ]; then
        printf "  %-18s fails here (an instruction set this CPU lacks?)\n" "$c"
        continue
    fi
    # A core type that computes nonsense must not win: after 350 steps of SGD the loss is
    # well under MNIST's initial 2.3.
    sane=$(awk -v l="${loss_of[$c]}" 'BEGIN { print (l == l + 0 && l < 1.0) ? "yes" : "no" }')
    printf "  %-18s %8.0f samples/s  loss %s%s\n" "$c" "${rate_of[$c]}" "${loss_of[$c]}" \
        "$([ "$sane" = yes ] || echo "  (not sane: skipped)")"
    if [ "$sane" = yes ] && awk -v a="${rate_of[$c]}" -v b="$best_rate" 'BEGIN { exit !(a > b) }'; then
        best=$c best_rate=${rate_of[$c]}
    fi
done
[ -n "$best" ] || { echo "bench.sh: no BLAS gave PyTorch a sane run" >&2; exit 1; }
mapfile -t reference_env < <(torch_env "$best")
reference=$(env "${reference_env[@]}" /usr/bin/python3 bench/torch_mlp.py --info)

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
cores=$(nproc)
date=$(date -u +%Y-%m-%dT%H:%MZ)
ruban_info=$(build/bench/bench_mlp --info | sed 's/^ruban[^:]*: //' | paste -sd ';' | sed 's/;/; /g')
echo
echo "CPU: $cpu, $cores cores; $date"
echo "ruban: $ruban_info"
echo "reference: $reference (chosen: $best, ${reference_env[*]})"
echo

header="| workload | threads | ruban samples/s | PyTorch samples/s | ratio | ruban % of sgemm peak | PyTorch % of sgemm peak | ruban peak RSS MB | PyTorch peak RSS MB |"
rule="|---|---|---|---|---|---|---|---|---|"
csv="workload,threads,ruban_samples_per_s,torch_samples_per_s,ratio,sgemm_peak_gflops,ruban_peak_fraction,torch_peak_fraction,ruban_rss_mb,torch_rss_mb,ruban_median_samples_per_s,torch_median_samples_per_s,cpu,cores,date,reference"
rows=""
printf "%-8s %7s %12s %12s %7s %11s %11s %10s %10s\n" workload threads "ruban/s" "torch/s" ratio \
    "ruban peak" "torch peak" "ruban MB" "torch MB"
for w in "${workloads[@]}"; do
    for threads in 1 2; do
        case "$w" in
        mlp) r=$(build/bench/bench_mlp --threads "$threads")
             t=$(env "${reference_env[@]}" OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_mlp.py --threads "$threads") ;;
        lenet | cnn | resnet)
            steps=$([ "$w" = cnn ] && echo 10 || echo 30)
            r=$(build/bench/bench_cnn --model "$w" --threads "$threads" --steps "$steps")
            t=$(env "${reference_env[@]}" OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_cnn.py \
                --model "$w" --threads "$threads" --steps "$steps") ;;
        lstm | gru | rnn)
            r=$(build/bench/bench_rnn --model "$w" --threads "$threads")
            t=$(env "${reference_env[@]}" OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_rnn.py \
                --model "$w" --threads "$threads") ;;
        esac
        line=$(awk -v w="$w" -v n="$threads" -v rs="$(field samples_per_s "$r")" \
            -v ts="$(field samples_per_s "$t")" -v p="$(field sgemm_peak "$r")" \
            -v fr="$(field peak_fraction "$r")" -v rm="$(field peak_rss_mb "$r")" \
            -v tm="$(field peak_rss_mb "$t")" \
            'BEGIN { printf "%s %d %.0f %.0f %.2f %.1f %.1f %.1f %.0f %.0f", w, n, rs, ts, rs / ts,
                     p, 100 * fr, 100 * fr * ts / rs, rm, tm }')
        read -r lw ln lrs lts lratio lpeak lrp ltp lrm ltm <<<"$line"
        printf "%-8s %7d %12.0f %12.0f %6sx %10s%% %10s%% %10s %10s\n" "$lw" "$ln" "$lrs" "$lts" \
            "$lratio" "$lrp" "$ltp" "$lrm" "$ltm"
        rows+="| $lw | $ln | $(printf "%'.0f" "$lrs") | $(printf "%'.0f" "$lts") | ${lratio}x | $lrp% | $ltp% | $lrm | $ltm |"$'\n'
        csv+=$'\n'"$lw,$ln,$lrs,$lts,$lratio,$lpeak,$lrp,$ltp,$lrm,$ltm,$(field median_samples_per_s "$r"),$(field median_samples_per_s "$t"),\"$cpu\",$cores,$date,\"$best\""
    done
done

# ---- the results files, written whole then renamed ----
mkdir -p results/bench
stamp=$(date -u +%Y%m%d-%H%M)
{
    echo "# ruban vs PyTorch: training throughput and memory"
    echo
    echo "$cpu, $cores cores, $date. Batch 128; throughput: best of 5 timed runs (the speed of this"
    echo "machine kind swings up to 2x from second to second; medians in the CSV); % of peak ="
    echo "matrix-product FLOPs of a training step over the sgemm rate at that thread count, measured"
    echo "just before and after each run (median over runs; PyTorch's scaled by the throughputs)."
    echo
    echo "- ruban: $ruban_info"
    echo "- reference: $reference; BLAS chosen by timing ($best)"
    echo
    echo "$header"
    echo "$rule"
    printf "%s" "$rows"
} >results/bench/.latest.md.tmp
printf "%s\n" "$csv" >results/bench/.latest.csv.tmp
cp results/bench/.latest.md.tmp "results/bench/$stamp.md"
cp results/bench/.latest.csv.tmp "results/bench/$stamp.csv"
mv results/bench/.latest.md.tmp results/bench/latest.md
mv results/bench/.latest.csv.tmp results/bench/latest.csv
echo
echo "written: results/bench/latest.md, results/bench/latest.csv (and $stamp.*)"
