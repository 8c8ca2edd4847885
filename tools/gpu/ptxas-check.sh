#!/usr/bin/env bash
# Assembles the committed PTX (tensor/cuda/kernels/*.ptx) with NVIDIA's
# ptxas for sm_80 (A100) and sm_90 (H100, H200): the same assembler the
# driver's JIT runs on a GPU machine, so a module the driver would refuse,
# a kernel that spills registers, or one that needs more registers than a
# block of the backend's size can have, fails here, without a GPU.
#
# ptxas comes from $PTXAS, the PATH, a cache, or else Debian 12's
# non-free nvidia-cuda-toolkit package (CUDA 11.8: it assembles PTX ISA
# 7.0 for both targets), fetched with apt into a private directory: the
# machine's apt sources are not touched. Where it cannot be had, the check
# says so and exits 0, unless FDSM_REQUIRE_PTXAS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The backend launches min(256, maxThreadsPerBlock) threads per block
# (tensor/cuda/backend.go); an SM has 65536 32-bit registers (compute
# capability 8.x and 9.x), and a block must fit on one SM.
block=256
regfile=65536
cache=${FDSM_PTXAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fdsm/ptxas-11.8}

fetch_ptxas() {
	local work=$cache.fetch
	rm -rf "$work"
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm non-free" >"$work/sources.list"
	local opts=(-qq -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
		-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
	[ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
	(cd "$work" && apt-get "${opts[@]}" update && apt-get "${opts[@]}" download nvidia-cuda-toolkit) >&2 || return 1
	dpkg-deb -x "$work"/nvidia-cuda-toolkit_*.deb "$work/x" || return 1
	mkdir -p "$cache"
	mv "$work/x/usr/bin/ptxas" "$cache/ptxas"
	rm -rf "$work"
}

ptxas=${PTXAS:-}
if [ -z "$ptxas" ]; then
	if command -v ptxas >/dev/null 2>&1; then
		ptxas=$(command -v ptxas)
	elif [ -x "$cache/ptxas" ] || fetch_ptxas; then
		ptxas=$cache/ptxas
	fi
fi
if [ -z "$ptxas" ] || ! "$ptxas" --version >/dev/null 2>&1; then
	echo "ptxas-check: SKIPPED: no ptxas (set PTXAS, or let apt fetch Debian's non-free nvidia-cuda-toolkit)" >&2
	[ "${FDSM_REQUIRE_PTXAS:-0}" = 1 ] && exit 1
	exit 0
fi
echo "ptxas: $ptxas ($("$ptxas" --version | tail -1))"

fail=0
total=0
maxregs=0
for ptx in tensor/cuda/kernels/*.ptx; do
	entries=$(grep -c '^\.visible \.entry' "$ptx")
	before=$fail
	for arch in sm_80 sm_90; do
		if ! log=$("$ptxas" -arch=$arch -v --warn-on-spills --warning-as-error -o /dev/null "$ptx" 2>&1); then
			echo "FAIL $ptx $arch: ptxas refused it:" >&2
			echo "$log" >&2
			fail=1
			continue
		fi
		compiled=$(grep -c "Compiling entry function" <<<"$log" || true)
		if [ "$compiled" != "$entries" ]; then
			echo "FAIL $ptx $arch: $entries entries in the PTX, ptxas compiled $compiled" >&2
			fail=1
		fi
		# "Compiling entry function 'NAME' for 'sm_90'" ... "Used N registers"
		while read -r name regs; do
			if [ $((regs * block)) -gt $regfile ]; then
				echo "FAIL $ptx $arch: $name uses $regs registers; $block threads need $((regs * block)) > $regfile" >&2
				fail=1
			fi
			[ "$regs" -gt "$maxregs" ] && maxregs=$regs
		done < <(awk -F"'" '/Compiling entry function/ {name=$2} /Used [0-9]+ registers/ {for (i=1;i<=NF;i++) if (match($i, /Used [0-9]+ registers/)) {split(substr($i, RSTART, RLENGTH), w, " "); print name, w[2]}}' <<<"$log")
		total=$((total + compiled))
	done
	[ "$fail" = "$before" ] && echo "ok   $ptx: $entries kernels assemble for sm_80 and sm_90"
done
[ "$fail" = 0 ] || exit 1
echo "ptxas-check: $total kernel builds, no spills, at most $maxregs registers a thread ($((maxregs * block)) of $regfile for a block of $block)"
