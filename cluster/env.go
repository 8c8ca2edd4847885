package cluster

import "github.com/fdsm-go/fdsm/jobenv"

// Environment variables through which `fdsm launch` (or a Kubernetes pod
// spec) tells a worker where it stands. The contract, and how other
// launchers' variables map onto it, is package jobenv's; these names are
// its, kept here for the packages that say cluster.EnvJob. The control
// bus's variables (FDSM_NATS_URL, FDSM_NATS_TOKEN, ...) are package bus's
// (bus/env.go).
const (
	EnvJob             = jobenv.Job
	EnvSeeds           = jobenv.Seeds
	EnvHost            = jobenv.Host
	EnvNodeRank        = jobenv.NodeRank
	EnvLocalRank       = jobenv.LocalRank
	EnvLocalWorldSize  = jobenv.LocalWorldSize
	EnvMinWorld        = jobenv.MinWorld
	EnvMaxWorld        = jobenv.MaxWorld
	EnvGossipAddr      = jobenv.GossipAddr
	EnvDataAddr        = jobenv.DataAddr
	EnvRestartCount    = jobenv.RestartCount
	EnvGossipKey       = jobenv.GossipKey
	EnvGossipKeyFile   = jobenv.GossipKeyFile
	EnvCollTimeout     = jobenv.CollectiveTimeout
	EnvJoinTimeout     = jobenv.JoinTimeout
	EnvWorkerLogPrefix = jobenv.WorkerLog

	// torchrun / PyTorchJob compatible names.
	EnvRank           = jobenv.Rank
	EnvTorchLocalRank = jobenv.TorchLocalRank
	EnvWorldSize      = jobenv.WorldSize
	EnvTorchLocalWS   = jobenv.TorchLocalWorldSize
	EnvMasterAddr     = jobenv.MasterAddr
	EnvMasterPort     = jobenv.MasterPort
	EnvTorchRestarts  = jobenv.TorchRestarts
	// Kubernetes Indexed Jobs give each pod its index.
	EnvJobCompletionIndex = jobenv.JobCompletionIndex
)
