#!/usr/bin/env bash
# Run an fdsm job on one machine with several GPUs: one worker per GPU (or per
# group of GPUs), started and supervised by `fdsm launch`.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: single-node-multigpu.sh [options] [fdsm launch flags] -- <fdsm command> [args...]

Starts one fdsm worker per GPU on this machine through `fdsm launch`. Each worker
sees only its own GPU(s): CUDA_VISIBLE_DEVICES is set per worker, picked from this
shell's CUDA_VISIBLE_DEVICES when that is set.

Options:
  -n, --gpus N             GPUs to use (default: all; counted from CUDA_VISIBLE_DEVICES,
                           else from nvidia-smi -L)
  -g, --gpus-per-worker G  GPUs per worker (default 1); N must be a multiple of G
  -f, --fdsm PATH          fdsm binary (default: $FDSM, else fdsm on PATH, else ./bin/fdsm)
      --dry-run            print the fdsm launch command instead of running it
  -h, --help               show this text

Other flags before -- go to `fdsm launch` unchanged (--log-dir, --max-restarts, --tee,
--grace, --job ...). Ctrl-C reaches the launcher, which forwards it to the workers.

Example:
  launch/scripts/single-node-multigpu.sh -n 4 --tee -- train --config job.yaml --out runs/job
EOF
}

die() {
	echo "single-node-multigpu.sh: $*" >&2
	exit 2
}

gpus=""
per_worker=1
fdsm="${FDSM:-}"
dry_run=0
launch_args=()
cmd=()

while (($# > 0)); do
	case "$1" in
	-n | --gpus)
		(($# >= 2)) || die "$1 needs a value"
		gpus="$2"
		shift 2
		;;
	-g | --gpus-per-worker)
		(($# >= 2)) || die "$1 needs a value"
		per_worker="$2"
		shift 2
		;;
	-f | --fdsm)
		(($# >= 2)) || die "$1 needs a value"
		fdsm="$2"
		shift 2
		;;
	--dry-run)
		dry_run=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		cmd=("$@")
		break
		;;
	*)
		launch_args+=("$1")
		shift
		;;
	esac
done

((${#cmd[@]} > 0)) || {
	usage >&2
	die "missing the fdsm command after --"
}
[[ "$per_worker" =~ ^[1-9][0-9]*$ ]] || die "--gpus-per-worker must be a positive integer (got '$per_worker')"

# Count the GPUs this shell may use.
available=""
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
	IFS=, read -r -a visible <<<"$CUDA_VISIBLE_DEVICES"
	available=${#visible[@]}
elif command -v nvidia-smi >/dev/null 2>&1; then
	available=$(nvidia-smi -L | grep -c '^GPU ' || true)
fi

if [[ -z "$gpus" ]]; then
	[[ -n "$available" && "$available" -gt 0 ]] ||
		die "cannot count the GPUs (no CUDA_VISIBLE_DEVICES, no nvidia-smi): pass --gpus N"
	gpus=$available
fi
[[ "$gpus" =~ ^[1-9][0-9]*$ ]] || die "--gpus must be a positive integer (got '$gpus')"
if [[ -n "$available" ]] && ((gpus > available)); then
	die "--gpus $gpus, but only $available GPUs are visible"
fi
((gpus % per_worker == 0)) || die "--gpus $gpus is not a multiple of --gpus-per-worker $per_worker"
workers=$((gpus / per_worker))

if [[ -z "$fdsm" ]]; then
	if command -v fdsm >/dev/null 2>&1; then
		fdsm=fdsm
	elif [[ -x ./bin/fdsm ]]; then
		fdsm=./bin/fdsm
	else
		die "fdsm not found: put it on PATH, build it (make build) or pass --fdsm PATH"
	fi
fi

full=("$fdsm" launch --nproc-per-node "$workers" --gpus-per-worker "$per_worker"
	${launch_args[@]+"${launch_args[@]}"} -- "${cmd[@]}")
echo "single-node-multigpu.sh: $workers workers x $per_worker GPU(s)" >&2
if ((dry_run)); then
	printf '%q ' "${full[@]}"
	echo
	exit 0
fi
# exec: the launcher itself receives Ctrl-C and SIGTERM and forwards them.
exec "${full[@]}"
