#!/usr/bin/env bash
# Set up, build and run the test suite; ends with a line "N passed, N failed".
#   scripts/test.sh              # release build in build/
#   scripts/test.sh --sanitize   # AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [[ "${1:-}" == "--sanitize" ]]; then
    dir=build-asan
    scripts/build.sh "$dir" --buildtype=debugoptimized -Db_sanitize=address,undefined \
        -Db_lundef=false -Dexamples=false -Dbenchmarks=false -Dmpi=enabled
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
else
    dir=build
    scripts/build.sh "$dir" -Dmpi=enabled
fi
# The mpi suite (mpirun with 2 ranks) runs too, also in a build folder made before Open MPI
# was installed; its tests set Open MPI's variables for running as root.
if ! meson configure "$dir" | grep -qE '^ *mpi +enabled'; then
    meson configure "$dir" -Dmpi=enabled >/dev/null
    ninja -C "$dir" >/dev/null
fi
status=0
meson test -C "$dir" --print-errorlogs --num-processes 2 || status=$?
scripts/test-summary.py "$dir/meson-logs/testlog.json"
exit $status
