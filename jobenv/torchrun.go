package jobenv

// torchrunWorker reads the variables torchrun gives each worker (and
// PyTorchJob v1 each pod): RANK and WORLD_SIZE, LOCAL_RANK and
// LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR and MASTER_PORT.
func torchrunWorker(r *reader) workerView {
	v := workerView{launcher: "torchrun", nodeRank: -1, seedVar: MasterAddr}
	rank, okRank := r.num(Rank, "a rank", 0)
	world, okWorld := r.num(WorldSize, "a world size", 1)
	if !r.has(WorldSize) {
		r.fail("%s is set but %s is not", Rank, WorldSize)
	}
	if okRank && okWorld && rank >= world {
		r.fail("%s=%d is not below %s=%d", Rank, rank, WorldSize, world)
	}
	v.minWorld, v.maxWorld, v.first = world, world, okRank && rank == 0
	v.localRank, v.nodeRank, v.nodeVar = torchrunPlace(r, rank, okRank)
	v.seedHost, _ = r.str(MasterAddr)
	v.seedPort = DefaultGossipPort
	if p, ok := r.port(MasterPort); ok {
		v.seedPort = p
		if r.has(TorchRunID) && p < 65535 {
			v.seedPort = p + 1 // torchrun's agent serves its store on MASTER_PORT
		}
	}
	if id, ok := r.str(TorchRunID); ok {
		v.job = jobFromName(id)
	} else {
		v.job = jobFromName(v.seedHost)
	}
	return v
}

// torchrunPlace returns the local rank and the node rank (with the
// variable it came from): GROUP_RANK, else RANK / LOCAL_WORLD_SIZE, else
// RANK itself (one process per node, as PyTorchJob v1 runs). torchrun's
// nodes all run LOCAL_WORLD_SIZE workers, so RANK must be
// node rank x LOCAL_WORLD_SIZE + LOCAL_RANK.
func torchrunPlace(r *reader, rank int, okRank bool) (local, node int, from string) {
	local, okLocal := r.num(TorchLocalRank, "a local rank", 0)
	lws, okLWS := r.num(TorchLocalWorldSize, "a local world size", 1)
	if okLocal && okLWS && local >= lws {
		r.fail("%s=%d is not below %s=%d", TorchLocalRank, local, TorchLocalWorldSize, lws)
	}
	if !okRank {
		return local, -1, Rank
	}
	if !okLocal && okLWS {
		local = rank % lws
	}
	group, okGroup := r.num(GroupRank, "a node rank", 0)
	switch {
	case okGroup:
		node, from = group, GroupRank
	case okLWS:
		node, from = rank/lws, Rank+" / "+TorchLocalWorldSize
	default:
		return local, rank, Rank
	}
	if okLWS && rank != node*lws+local {
		r.fail("%s=%d does not match %s=%d x %s=%d + %s=%d", Rank, rank, from, node, TorchLocalWorldSize, lws,
			TorchLocalRank, local)
	}
	return local, node, from
}
