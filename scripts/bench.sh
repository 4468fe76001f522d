#!/usr/bin/env bash
# Training throughput of ruban and of the PyTorch reference on the same machine, 1 and 2
# threads, in one run: samples/s, the ratio, and the fraction of the sgemm peak each reaches
# (matrix-product FLOPs of a training step / time, over the measured single-call sgemm rate).
#   scripts/bench.sh [workload...]      workloads: mlp lenet cnn resnet lstm (default: all)
# Each figure is the median of 5 timed runs; the machine's noise shows in their spread.
set -euo pipefail
cd "$(dirname "$0")/.."
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(mlp lenet cnn resnet lstm)
scripts/setup.sh --bench >/dev/null
scripts/build.sh >/dev/null
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
printf "%-8s %7s %14s %14s %7s %11s %12s %12s\n" workload threads "ruban samp/s" "torch samp/s" \
    ratio "sgemm GF/s" "ruban peak%" "torch peak%"
for w in "${workloads[@]}"; do
    for threads in 1 2; do
        case "$w" in
        mlp)
            r=$(build/bench/bench_mlp --threads "$threads" --steps 200)
            t=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_mlp.py --threads "$threads" --steps 200) ;;
        lenet | cnn | resnet)
            steps=$([ "$w" = cnn ] && echo 10 || echo 30)
            r=$(build/bench/bench_cnn --model "$w" --threads "$threads" --steps "$steps")
            t=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_cnn.py --model "$w" \
                --threads "$threads" --steps "$steps") ;;
        lstm | gru | rnn)
            r=$(build/bench/bench_rnn --model "$w" --threads "$threads" --steps 20)
            t=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_rnn.py --model "$w" \
                --threads "$threads" --steps 20) ;;
        *) echo "unknown workload $w (mlp lenet cnn resnet lstm gru rnn)" >&2; exit 2 ;;
        esac
        awk -v w="$w" -v n="$threads" -v rs="$(field samples_per_s "$r")" \
            -v ts="$(field samples_per_s "$t")" -v p="$(field sgemm_peak "$r")" \
            -v f="$(field flops_per_sample "$r")" \
            'BEGIN { printf "%-8s %7d %14.0f %14.0f %6.2fx %11.1f %11.1f%% %11.1f%%\n", w, n, rs, ts,
                     rs / ts, p, 100 * rs * f / 1e9 / p, 100 * ts * f / 1e9 / p }'
    done
done
