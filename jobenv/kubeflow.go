package jobenv

import (
	"fmt"
	"strconv"
	"strings"
)

// kubeflowWorker reads the PET_* variables of a pod that runs one worker
// (`fdsm train` as the container's command): the pod is a node of one
// process.
func kubeflowWorker(r *reader) workerView {
	v := workerView{launcher: "kubeflow", nodeRank: -1, nodeVar: PetNodeRank, seedVar: PetMasterAddr}
	if n, ok := r.str(PetNProcPerNode); ok && n != "1" {
		r.fail("%s=%s: a pod that runs fdsm train is one worker; run fdsm launch to start %s workers",
			PetNProcPerNode, n, n)
	}
	v.minWorld, v.maxWorld, _ = r.nodeRange(PetNNodes)
	if n, ok := r.num(PetNodeRank, "a node rank", 0); ok {
		v.nodeRank, v.first = n, n == 0
	}
	checkNodeRank(r, v.nodeRank, PetNodeRank, v.maxWorld, PetNNodes)
	v.seedHost, v.seedPort, v.job = kubeflowMaster(r)
	return v
}

// kubeflowMaster returns the master's host and port and the job id:
// PET_RDZV_ID, else one made of the master's address.
func kubeflowMaster(r *reader) (host string, port int, job string) {
	host, _ = r.str(PetMasterAddr)
	port = DefaultGossipPort
	if p, ok := r.port(PetMasterPort); ok {
		port = p
	}
	if id, ok := r.str(PetRdzvID); ok {
		return host, port, jobFromName(id)
	}
	return host, port, jobFromName(host)
}

// kubeflowNode reads the PET_* variables of a pod that runs fdsm launch,
// which takes them as torchrun takes them: its flags.
func kubeflowNode(r *reader) nodeView {
	v := nodeView{launcher: "kubeflow", nodeRank: -1, nodeVar: PetNodeRank}
	v.minNodes, v.maxNodes, v.elastic = r.nodeRange(PetNNodes)
	if n, ok := r.num(PetNodeRank, "a node rank", 0); ok {
		v.nodeRank = n
	}
	if s, ok := r.str(PetNProcPerNode); ok {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 {
			v.nproc = n
		} else {
			v.nprocErr = fmt.Errorf("%s=%q: fdsm launch needs a number of workers (torchrun's auto, cpu and "+
				"gpu are not read); pass --nproc-per-node", PetNProcPerNode, s)
		}
	}
	v.seedHost, v.seedPort, v.job = kubeflowMaster(r)
	if !r.has(PetMasterPort) {
		v.seedPort = 0 // the launcher's gossip port then
	}
	return v
}

// nodeRange reads N or MIN:MAX (torchrun's --nnodes); 0, 0 when unset.
func (r *reader) nodeRange(name string) (lo, hi int, elastic bool) {
	v, ok := r.str(name)
	if !ok {
		return 0, 0, false
	}
	a, b, elastic := strings.Cut(v, ":")
	if !elastic {
		b = a
	}
	lo, errA := strconv.Atoi(a)
	hi, errB := strconv.Atoi(b)
	if errA != nil || errB != nil || lo < 1 || hi < lo {
		r.fail("%s=%q is not N or MIN:MAX (node counts, 1 <= MIN <= MAX)", name, v)
		return 0, 0, false
	}
	return lo, hi, elastic
}

// checkNodeRank fails a node rank outside [0, nodes) (nodes 0: unknown).
func checkNodeRank(r *reader, rank int, rankVar string, nodes int, nodesVar string) {
	if rank >= 0 && nodes > 0 && rank >= nodes {
		r.fail("%s=%d is not below %s=%d", rankVar, rank, nodesVar, nodes)
	}
}
