#!/usr/bin/env bash
# Training throughput of ruban and of the PyTorch reference on the same machine, 1 and 2
# threads, in one run; prints samples/s, the ratio, and the fraction of sgemm peak.
#   scripts/bench.sh [steps per timed run]   (5 runs each, medians)
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-200}"
scripts/setup.sh --bench >/dev/null
scripts/build.sh >/dev/null
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
printf "%-8s %7s %14s %14s %7s %12s %12s %12s\n" workload threads "ruban samp/s" "torch samp/s" ratio \
    "sgemm GF/s" "ruban peak%" "torch peak%"
for threads in 1 2; do
    r=$(build/bench/bench_mlp --threads "$threads" --steps "$steps")
    t=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_mlp.py --threads "$threads" --steps "$steps")
    rs=$(field samples_per_s "$r"); ts=$(field samples_per_s "$t")
    peak=$(field sgemm_peak "$r"); rg=$(field gflops "$r"); tg=$(field gflops "$t")
    awk -v w=mlp -v n="$threads" -v rs="$rs" -v ts="$ts" -v p="$peak" -v rg="$rg" -v tg="$tg" \
        'BEGIN { printf "%-8s %7d %14.0f %14.0f %6.2fx %12.1f %11.1f%% %11.1f%%\n", w, n, rs, ts, rs / ts, p, 100 * rg / p, 100 * tg / p }'
done
