#!/usr/bin/env bash
# Run an fdsm job on several machines over SSH: one `fdsm launch` per host,
# node ranks in host-file order, the first host's worker 0 as gossip seed.
# Ctrl-C closes the ssh sessions; each remote launcher then gets SIGHUP and
# stops its workers (SIGTERM, grace, SIGKILL). Logs are copied back at the end.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: multi-node-ssh.sh -H HOSTFILE [options] [fdsm launch flags] -- <fdsm command> [args...]

Runs `fdsm launch --nnodes M --node-rank i --seeds SEED --job JOB` on the i-th host of
HOSTFILE over ssh (needs key-based login), prints every launcher's output prefixed
with its node, and copies the workers' logs back when the job ends.

Options:
  -H, --hosts FILE        hosts, one per line as [user@]host; '#' starts a comment;
                          the first host is node 0 and holds the gossip seed
  -n, --nproc-per-node N  workers per host (default 1)
  -p, --port PORT         gossip port of worker 0 on every host (default 7946)
      --seed ADDR         seed address other hosts reach, host:port
                          (default: the first host's name and --port)
  -j, --job ID            job id (default fdsm-<date>-<random>)
  -f, --fdsm PATH         fdsm on the remote hosts (default: fdsm)
  -C, --chdir DIR         remote working directory, relative to the login directory
                          or absolute (default: the login directory)
  -l, --logs DIR          local directory for launcher output and collected worker
                          logs (default ./fdsm-logs/<job>)
  -s, --ssh-opt OPTS      extra ssh options, repeatable (e.g. -s "-i ~/.ssh/key" -s "-o Port=2222")
      --dry-run           print the ssh commands instead of running them
  -h, --help              show this text

Other flags before -- go to every host's `fdsm launch` unchanged (--gpus-per-worker 1,
--max-restarts 2, --grace 60s ...). Remote workers log to <chdir>/fdsm-logs/<job>.

Example:
  launch/scripts/multi-node-ssh.sh -H hosts.txt -n 8 --gpus-per-worker 1 -- \
      train --config job.yaml --out runs/job
EOF
}

die() {
	echo "multi-node-ssh.sh: $*" >&2
	exit 2
}

hostfile=""
nproc=1
port=7946
seed=""
job=""
fdsm=fdsm
chdir=""
logs=""
dry_run=0
ssh_opts=()
launch_args=()
cmd=()

while (($# > 0)); do
	case "$1" in
	-H | --hosts | -n | --nproc-per-node | -p | --port | --seed | -j | --job | -f | --fdsm | -C | --chdir | -l | --logs | -s | --ssh-opt)
		(($# >= 2)) || die "$1 needs a value"
		case "$1" in
		-H | --hosts) hostfile="$2" ;;
		-n | --nproc-per-node) nproc="$2" ;;
		-p | --port) port="$2" ;;
		--seed) seed="$2" ;;
		-j | --job) job="$2" ;;
		-f | --fdsm) fdsm="$2" ;;
		-C | --chdir) chdir="$2" ;;
		-l | --logs) logs="$2" ;;
		-s | --ssh-opt)
			read -r -a words <<<"$2"
			ssh_opts+=("${words[@]}")
			;;
		esac
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

[[ -n "$hostfile" ]] || {
	usage >&2
	die "missing -H HOSTFILE"
}
((${#cmd[@]} > 0)) || {
	usage >&2
	die "missing the fdsm command after --"
}
[[ -r "$hostfile" ]] || die "cannot read host file $hostfile"
[[ "$nproc" =~ ^[1-9][0-9]*$ ]] || die "--nproc-per-node must be a positive integer (got '$nproc')"
if ! [[ "$port" =~ ^[1-9][0-9]*$ ]] || ((port > 65535)); then
	die "--port must be in 1..65535 (got '$port')"
fi

hosts=()
while IFS= read -r line || [[ -n "$line" ]]; do
	line="${line%%#*}"
	read -r host _ <<<"$line" || true
	[[ -n "${host:-}" ]] && hosts+=("$host")
done <"$hostfile"
((${#hosts[@]} > 0)) || die "no hosts in $hostfile"
nnodes=${#hosts[@]}

if [[ -z "$seed" ]]; then
	seed="${hosts[0]#*@}:$port"
fi
if [[ -z "$job" ]]; then
	job="fdsm-$(date -u +%Y%m%d-%H%M%S)-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
fi
[[ "$job" =~ ^[A-Za-z0-9_-]{1,64}$ ]] || die "job id '$job': use letters, digits, '-' or '_'"
logs="${logs:-fdsm-logs/$job}"
remote_logs="fdsm-logs/$job"
mkdir -p "$logs"

# Every node's workers need the same job secret (it authenticates the data
# plane and encrypts gossip); make one unless the caller exported it. It
# travels in the remote command's environment assignment, not in the
# launcher's arguments.
if [[ -z "${FDSM_JOB_SECRET:-}" ]]; then
	FDSM_JOB_SECRET="$(head -c 32 /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_')"
fi

# The remote command line, quoted for the remote shell. exec makes the launcher
# the session's process, so it gets the SIGHUP when the ssh session closes.
remote_command() {
	local rank=$1 q=""
	local -a argv=("$fdsm" launch --nnodes "$nnodes" --node-rank "$rank" --nproc-per-node "$nproc"
		--seeds "$seed" --job "$job" --gossip-port "$port" --log-dir "$remote_logs"
		${launch_args[@]+"${launch_args[@]}"} -- "${cmd[@]}")
	if [[ -n "$chdir" ]]; then
		# ssh starts in the login directory: ~/x is simply x.
		local dir="${chdir#\~/}"
		printf -v q 'cd %q && ' "$dir"
	fi
	# Rank 0's embedded control bus listens for the other hosts (its token
	# derives from the job secret); on loopback, its default, they could not
	# reach it and would wait for it in vain at every regroup.
	printf '%sFDSM_JOB_SECRET=%q FDSM_BUS_HOST=%q exec' "$q" "$FDSM_JOB_SECRET" "${FDSM_BUS_HOST:-0.0.0.0}"
	printf ' %q' "${argv[@]}"
}

# Prefix each line with the node's tag; ptys end lines with \r\n.
prefix() {
	local tag=$1 line
	while IFS= read -r line || [[ -n "$line" ]]; do
		printf '[%s] %s\n' "$tag" "${line%$'\r'}"
	done
}

ssh_base=(ssh -tt -o BatchMode=yes ${ssh_opts[@]+"${ssh_opts[@]}"})

if ((dry_run)); then
	for i in "${!hosts[@]}"; do
		printf '%q ' "${ssh_base[@]}" "${hosts[$i]}"
		printf '%q\n' "$(remote_command "$i")"
	done
	exit 0
fi

echo "multi-node-ssh.sh: job $job on $nnodes hosts x $nproc workers, seed $seed, logs in $logs" >&2

pids=()
interrupted=0
on_interrupt() {
	if ((interrupted)); then
		echo "multi-node-ssh.sh: second interrupt: killing the ssh sessions" >&2
		kill -KILL "${pids[@]}" 2>/dev/null || true
		return
	fi
	interrupted=1
	echo "multi-node-ssh.sh: interrupted: closing the ssh sessions; remote launchers stop their workers" >&2
	kill -TERM "${pids[@]}" 2>/dev/null || true
}
trap on_interrupt INT TERM

for i in "${!hosts[@]}"; do
	host=${hosts[$i]}
	tag="node $i ${host#*@}"
	out="$logs/launcher-$i-${host#*@}.log"
	# stdin from /dev/null: the sessions must not compete for the terminal.
	"${ssh_base[@]}" "$host" "$(remote_command "$i")" </dev/null > >(prefix "$tag" | tee -a "$out") 2>&1 &
	pids+=($!)
done

# Wait for every session; a trap interrupts wait, so wait again while the
# process lives.
statuses=()
for i in "${!pids[@]}"; do
	pid=${pids[$i]}
	while :; do
		st=0
		wait "$pid" || st=$?
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
	done
	statuses[i]=$st
done

# Collect the workers' logs through the same ssh options.
for i in "${!hosts[@]}"; do
	host=${hosts[$i]}
	dest="$logs/node-$i-${host#*@}"
	mkdir -p "$dest"
	dir="$remote_logs"
	if [[ -n "$chdir" ]]; then
		dir="${chdir#\~/}/$remote_logs"
	fi
	remote_tar=$(printf 'tar -C %q -cf - .' "$dir")
	if ! ssh -o BatchMode=yes ${ssh_opts[@]+"${ssh_opts[@]}"} "$host" "$remote_tar" </dev/null |
		tar -C "$dest" -xf -; then
		echo "multi-node-ssh.sh: could not copy the logs of ${host} ($dir)" >&2
	fi
done

failed=()
for i in "${!statuses[@]}"; do
	if ((statuses[i] != 0)); then
		failed+=("node $i (${hosts[$i]}): exit ${statuses[$i]}, see $logs/launcher-$i-${hosts[$i]#*@}.log")
	fi
done
if ((interrupted)); then
	echo "multi-node-ssh.sh: interrupted; logs in $logs" >&2
	exit 130
fi
if ((${#failed[@]} > 0)); then
	echo "multi-node-ssh.sh: the job failed on ${#failed[@]} of $nnodes hosts:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	echo "worker logs in $logs/node-*" >&2
	exit 1
fi
echo "multi-node-ssh.sh: job $job finished on all $nnodes hosts; logs in $logs" >&2
