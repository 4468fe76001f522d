#!/usr/bin/env bash
# Configure (once) and build ruban in build/ (or $1 with extra meson options after it).
#   scripts/build.sh                     # release build in build/
#   scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "$@" >/dev/null
    echo "build: configured $dir $*"
fi
ninja -C "$dir" >/dev/null
echo "build: $dir is up to date"
