// Package ring is the TCP ring communicator: a collective.Comm over host
// tensors in which rank r streams to r+1, with a DataPlane (one listener per
// process, authenticated connections, generations) that outlives groups so
// a regroup reconnects at the same address. It is the data plane on CPUs
// and the control plane beside NCCL on GPUs.
package ring
