// Package cluster finds and watches the processes of a job: membership and
// failure detection (hashicorp/memberlist), rendezvous and rank assignment,
// job secrets, and the node that forms a group and connects its
// communicators (package collective; the TCP ring of package
// collective/ring on CPUs).
package cluster
