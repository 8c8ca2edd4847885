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
ls -la bin/gpu
du -sh bin/gpu
