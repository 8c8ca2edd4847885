// Package cluster finds and watches the processes of a job: membership and
// failure detection (hashicorp/memberlist), rendezvous and rank assignment,
// job secrets, and the node that forms a group and connects its
// communicators (package collective; the TCP ring of package
// collective/ring on CPUs) and its control bus (package bus: the node
// connects the bus client and embeds the bus server on rank 0).
package cluster
