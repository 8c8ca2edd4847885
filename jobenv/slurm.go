package jobenv

import "fmt"

// inSrunTask reports whether this process is a task of an srun step. The
// batch script has SLURM_PROCID and SLURM_NTASKS too, but it is no task: a
// `fdsm train` run there alone must not wait for the allocation's tasks.
func inSrunTask(r *reader) bool { return r.has(SlurmProcID) && r.has(SlurmStepID) }

// slurmWorker reads the variables of an srun task that runs one worker
// (`srun --ntasks-per-node=G fdsm train ...`).
func slurmWorker(r *reader) workerView {
	v := workerView{launcher: "slurm", nodeRank: -1, nodeVar: SlurmNodeID, seedVar: SlurmStepNodeList}
	rank, okRank := r.num(SlurmProcID, "a rank", 0)
	world, okWorld := r.num(SlurmNTasks, "a task count", 1)
	if !r.has(SlurmNTasks) {
		r.fail("%s is set but %s is not", SlurmProcID, SlurmNTasks)
	}
	if okRank && okWorld && rank >= world {
		r.fail("%s=%d is not below %s=%d", SlurmProcID, rank, SlurmNTasks, world)
	}
	v.minWorld, v.maxWorld, v.first = world, world, okRank && rank == 0
	v.localRank, _ = r.num(SlurmLocalID, "a local rank", 0)
	if n, ok := r.num(SlurmNodeID, "a node rank", 0); ok {
		v.nodeRank = n
	}
	v.seedHost = slurmFirstHost(r)
	v.seedPort = DefaultGossipPort
	if p, ok := r.port(MasterPort); ok {
		v.seedPort = p
	}
	v.job = slurmJob(r)
	return v
}

// slurmNode reads the variables of an srun task that runs fdsm launch.
func slurmNode(r *reader) nodeView {
	v := nodeView{launcher: "slurm", nodeRank: -1, nodeVar: SlurmNodeID}
	nodesVar := SlurmStepNumNodes
	if !r.has(nodesVar) {
		nodesVar = SlurmNNodes
	}
	if n, ok := r.num(nodesVar, "a node count", 1); ok {
		v.minNodes, v.maxNodes = n, n
	}
	if tasks, ok := r.num(SlurmNTasks, "a task count", 1); ok && v.maxNodes > 0 && tasks != v.maxNodes {
		r.fail("%s=%d on %s=%d nodes: fdsm launch starts a node's workers itself, so run one task per node "+
			"(srun --ntasks-per-node=1), or run fdsm train as the tasks", SlurmNTasks, tasks, nodesVar, v.maxNodes)
	}
	if n, ok := r.num(SlurmNodeID, "a node rank", 0); ok {
		v.nodeRank = n
	}
	v.seedHost, v.job = slurmFirstHost(r), slurmJob(r)
	return v
}

// slurmFirstHost is the first node of the step, where task 0 runs (srun's
// default block distribution): the seed.
func slurmFirstHost(r *reader) string {
	for _, name := range []string{SlurmStepNodeList, SlurmNodeList, SlurmJobNodeList} {
		if list, ok := r.str(name); ok {
			h, err := firstHost(list)
			if err != nil {
				r.fail("%s=%q: %v", name, list, err)
			}
			return h
		}
	}
	return ""
}

// slurmJob names the job after the allocation and the step, which every
// task of the step shares; a step run again (a retry in the batch script)
// is a new job, so it never meets the dead members of the one before.
func slurmJob(r *reader) string {
	id, ok := r.str(SlurmJobID)
	if !ok {
		return ""
	}
	step, _ := r.str(SlurmStepID)
	return jobFromName(fmt.Sprintf("slurm-%s-%s", id, step))
}
