#!/usr/bin/env bash
# Set up, build, and train the MNIST multilayer perceptron (examples/mnist_mlp.c).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/examples/mnist_mlp
