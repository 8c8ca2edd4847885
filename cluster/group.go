package cluster

import (
	"fmt"
	"strings"
)

// Member is one process of a job as membership sees it. Its fields travel
// in memberlist node metadata (at most 512 bytes encoded).
type Member struct {
	// Name is unique per process lifetime: job/host/local rank/incarnation.
	Name        string `json:"name"`
	Job         string `json:"job"`
	Host        string `json:"host"`
	NodeRank    int    `json:"node_rank"` // launcher's node rank, -1 when elastic
	LocalRank   int    `json:"local_rank"`
	Incarnation uint64 `json:"inc"`     // grows on every restart of the same slot
	Devices     int    `json:"devices"` // local accelerator count (0 on CPUs)
	DataAddr    string `json:"data"`    // host:port of the collective data plane
	BusURL      string `json:"bus,omitempty"`
}

// Less orders members for rank assignment: node rank (so a static launch
// gets RANK = node_rank*nproc + local_rank, as torchrun does), host, local
// rank, then incarnation and name to break ties deterministically.
func (m Member) Less(o Member) bool {
	if m.NodeRank != o.NodeRank {
		return m.NodeRank < o.NodeRank
	}
	if m.Host != o.Host {
		return m.Host < o.Host
	}
	if m.LocalRank != o.LocalRank {
		return m.LocalRank < o.LocalRank
	}
	if m.Incarnation != o.Incarnation {
		return m.Incarnation < o.Incarnation
	}
	return m.Name < o.Name
}

// Slot identifies the place a process fills (host and local rank); a
// restarted process keeps its slot and gets a new incarnation.
func (m Member) Slot() string { return fmt.Sprintf("%s/%d", m.Host, m.LocalRank) }

// NodeName builds a member's unique node name from its parts.
func NodeName(job, host string, localRank int, incarnation uint64) string {
	return fmt.Sprintf("%s/%s/%d/%d", job, host, localRank, incarnation)
}

// Group is the outcome of a rendezvous: the members in rank order, agreed by
// all of them, and a generation number that grows with every regroup.
type Group struct {
	Job        string   `json:"job"`
	Generation uint64   `json:"generation"`
	Members    []Member `json:"members"` // index = rank
	Rank       int      `json:"rank"`    // this process's rank
	BusURL     string   `json:"bus_url,omitempty"`
}

// Size returns the world size.
func (g *Group) Size() int { return len(g.Members) }

// DataAddrs returns the members' data-plane addresses in rank order.
func (g *Group) DataAddrs() []string {
	out := make([]string, len(g.Members))
	for i, m := range g.Members {
		out[i] = m.DataAddr
	}
	return out
}

func (g *Group) String() string {
	names := make([]string, len(g.Members))
	for i, m := range g.Members {
		names[i] = m.Slot()
	}
	return fmt.Sprintf("job %s generation %d: %d ranks [%s], self rank %d",
		g.Job, g.Generation, len(g.Members), strings.Join(names, " "), g.Rank)
}
