#!/usr/bin/env bash
# Fuzz the file readers with libFuzzer (tests/fuzz/): build the targets with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, write their seed corpora
# (scripts/fuzz-corpus.py), run each for the given time, print its runs, coverage and verdict,
# and end with 'N passed, N failed', one per target.
#   scripts/fuzz.sh                    # 300 s per target
#   scripts/fuzz.sh 45                 # 45 s per target (CI)
#   scripts/fuzz.sh 600 csv tabular    # some targets only
# A crash, a leak, undefined behaviour, a broken loader contract, an input taking more than 10 s
# or a run growing past 2 GB fails the target and exits non-zero; the input is kept in
# build-fuzz/fuzz/crashes/<target>/ (replay: build-fuzz/tests/fuzz/fuzz_<target> FILE) and the
# log in build-fuzz/fuzz/logs/. The corpus each run grows stays in build-fuzz/fuzz/corpus/.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
if [[ ! $seconds =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh [seconds per target] [target...]" >&2
    exit 2
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(idx csv tabular cifar checkpoint checkpoint_optim)
dir=build-fuzz
out=$dir/fuzz

if ! command -v clang >/dev/null; then
    echo "fuzz: clang not found (scripts/setup.sh installs it)" >&2
    exit 1
fi
mkdir -p "$out/logs"
if [[ ! -f $dir/build.ninja ]]; then
    if ! CC=clang meson setup "$dir" -Dfuzz=enabled -Db_lundef=false --buildtype=debugoptimized \
        -Dtests=false -Dexamples=false -Dbenchmarks=false -Dmpi=disabled >"$out/logs/setup.log" 2>&1; then
        tail -n 20 "$out/logs/setup.log"
        echo "fuzz: configuring $dir failed (log: $out/logs/setup.log)" >&2
        exit 1
    fi
    echo "fuzz: configured $dir"
fi
if ! ninja -C "$dir" >"$out/logs/build.log" 2>&1; then
    tail -n 30 "$out/logs/build.log"
    echo "fuzz: building $dir failed" >&2
    exit 1
fi
scripts/fuzz-corpus.py "$dir" "$out/seeds" >/dev/null || exit 1

# Inputs go to a private folder in memory when there is one (each is written to a file).
tmp=$(mktemp -d "${TMPDIR:-$([[ -w /dev/shm ]] && echo /dev/shm || echo /tmp)}/ruban-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:handle_abort=1
export UBSAN_OPTIONS=print_stacktrace=1
export RUBAN_NUM_THREADS=1

echo "fuzz: ${#targets[@]} target(s), ${seconds} s each"
passed=0
failed=0
for t in "${targets[@]}"; do
    exe=$dir/tests/fuzz/fuzz_$t
    dict=tests/fuzz/${t%_optim}.dict
    [[ -f $dict ]] && dict_arg=(-dict="$dict") || dict_arg=()
    case $t in
        cifar) max_len=12292 ;;   # four records
        tabular) max_len=8192 ;;
        *) max_len=4096 ;;
    esac
    if [[ ! -x $exe ]]; then
        echo "FAILED $t: no target $exe"
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$out/corpus/$t" "$out/crashes/$t"
    log=$out/logs/$t.log
    TMPDIR=$tmp "$exe" "$out/corpus/$t" "$out/seeds/$t" "${dict_arg[@]}" -max_len=$max_len \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$t/" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
    printf '%-17s %9s runs %6s/s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-no coverage}"
    if [[ $rc == 0 ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz: )|runtime error' "$log" | head -n 5 | sed 's/^/    /'
        echo "FAILED $t: exit code $rc, input ${saved:-not saved}, log $log"
    fi
done
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
