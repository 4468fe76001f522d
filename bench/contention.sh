#!/usr/bin/env bash
# Training throughput when other processes compete for the cores: bench_mlp and bench_cnn
# (LeNet) at 1 thread and at ruban's default thread count, first on a quiet machine, then with
# as many busy-looping processes as there are cores, started and stopped by this script.
# Prints each figure (the median of the timed runs: what a run typically gets under load) and the
# ratio default / 1 thread (ruban's goal: at least 0.8 under load).
#
#   bench/contention.sh [--steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
steps_mlp=200 steps_cnn=20
if [ "${1:-}" = --steps ]; then steps_mlp=$2 steps_cnn=$2; shift 2; fi
[ $# -eq 0 ] || { echo "contention.sh: unknown argument '$1' (--help)" >&2; exit 2; }
scripts/build.sh >/dev/null
cores=$(nproc)
field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<" $2"; }
measure() { # $1 = label; prints rows for mlp and lenet at 1 thread and the default
    local mlp1 mlpd cnn1 cnnd
    mlp1=$(field median_samples_per_s "$(build/bench/bench_mlp --threads 1 --steps "$steps_mlp" --repeats 3 --peak 0)")
    mlpd=$(field median_samples_per_s "$(build/bench/bench_mlp --threads 0 --steps "$steps_mlp" --repeats 3 --peak 0)")
    cnn1=$(field median_samples_per_s "$(build/bench/bench_cnn --model lenet --threads 1 --steps "$steps_cnn" --repeats 3 --peak 0)")
    cnnd=$(field median_samples_per_s "$(build/bench/bench_cnn --model lenet --threads 0 --steps "$steps_cnn" --repeats 3 --peak 0)")
    awk -v l="$1" -v a="$mlp1" -v b="$mlpd" -v c="$cnn1" -v d="$cnnd" 'BEGIN {
        printf "%-24s mlp   1 thread %8.0f  default %8.0f  ratio %.2f\n", l, a, b, b / a
        printf "%-24s lenet 1 thread %8.0f  default %8.0f  ratio %.2f\n", l, c, d, d / c }'
}
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $cores cores"
measure "quiet"
busy=()
for _ in $(seq "$cores"); do
    (while :; do :; done) &
    busy+=($!)
done
trap 'kill "${busy[@]}" 2>/dev/null || true' EXIT
sleep 1
measure "$cores busy processes"
