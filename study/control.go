package study

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/cluster"
)

// ControlOptions configure Control: the control plane (gossip membership
// and rendezvous) of jobs of many members, all in this process on
// loopback, one memberlist per member.
type ControlOptions struct {
	Members []int          // job sizes to study, e.g. 8, 16, ..., 512
	Timing  cluster.Timing // zero: cluster.LANTiming, what real jobs use
	// Dilation, when above 1, runs the members with every duration of
	// Timing multiplied by it and reports the measured times divided by it
	// (cluster.Timing.Dilated): many members share this host's cores, and a
	// protocol run k times slower needs k times less CPU a second to keep
	// its timing. 0 or 1: none.
	Dilation float64
	// Timeout bounds each phase of each size (default 2 minutes; times the
	// dilation).
	Timeout  time.Duration
	Progress func(members int, phase string)
	Log      zerolog.Logger
}

// ControlRow is one job size's measurements, in seconds from the phase's
// start until every member has seen its end.
type ControlRow struct {
	Members int `json:"members"`
	// Form: all N join through member 0's address until every member
	// lists all N.
	FormS float64 `json:"form_s"`
	// Rendezvous: all N call Rendezvous (min = max = N) until every one
	// has the same group.
	RendezvousS float64 `json:"rendezvous_s"`
	// Detect: one member stops without leaving (a crash) until every
	// survivor lists N-1.
	DetectS float64 `json:"detect_s"`
	// Regroup: the N-1 survivors rendezvous again until every one has the
	// new group (a newer generation).
	RegroupS float64 `json:"regroup_s"`
	// The groups' generations: 1 and 2 unless a proposal was aborted and
	// made again (a member not yet seeing the others ready refuses it),
	// which costs a round each.
	Generation        uint64 `json:"generation"`
	RegroupGeneration uint64 `json:"regroup_generation"`
}

// Control measures, for each size, how long a job of N members takes to
// form, to agree on a group, to notice a crashed member and to regroup.
// Each size runs on fresh members, torn down before the next.
func Control(ctx context.Context, o ControlOptions) ([]ControlRow, error) {
	o, err := o.dilated()
	if err != nil {
		return nil, err
	}
	var rows []ControlRow
	for _, n := range o.Members {
		if n < 2 {
			return rows, fmt.Errorf("control study: %d members: a job needs at least 2 to lose one", n)
		}
		row, err := controlOne(ctx, o, n)
		if err != nil {
			return rows, fmt.Errorf("control study, %d members: %w", n, err)
		}
		rows = append(rows, row.undilated(o.Dilation))
	}
	return rows, nil
}

// dilated returns o with its defaults filled in and its dilation applied:
// Timing's durations and the timeout multiplied by Dilation (1 when 0).
func (o ControlOptions) dilated() (ControlOptions, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Dilation < 0 || math.IsNaN(o.Dilation) || math.IsInf(o.Dilation, 0) {
		return o, fmt.Errorf("control study: dilation %v must be positive and finite", o.Dilation)
	}
	if o.Dilation <= 1 {
		o.Dilation = 1
		return o, nil
	}
	o.Timing = o.Timing.Dilated(o.Dilation)
	o.Timeout = time.Duration(float64(o.Timeout) * o.Dilation)
	return o, nil
}

// undilated returns r with its measured times divided by k.
func (r ControlRow) undilated(k float64) ControlRow {
	r.FormS /= k
	r.RendezvousS /= k
	r.DetectS /= k
	r.RegroupS /= k
	return r
}

func controlOne(ctx context.Context, o ControlOptions, n int) (row ControlRow, err error) {
	row.Members = n
	phase := func(name string) {
		if o.Progress != nil {
			o.Progress(n, name)
		}
	}
	phase("form")
	t0 := time.Now()
	nodes, err := joinAll(ctx, o, n)
	defer shutdownAll(nodes)
	if err != nil {
		return row, err
	}
	if err := waitAll(ctx, o.Timeout, nodes, n, "to see every member"); err != nil {
		return row, err
	}
	row.FormS = time.Since(t0).Seconds()

	phase("rendezvous")
	t0 = time.Now()
	if row.Generation, err = rendezvousAll(ctx, o.Timeout, nodes, 0); err != nil {
		return row, err
	}
	row.RendezvousS = time.Since(t0).Seconds()

	phase("detect")
	t0 = time.Now()
	nodes[n-1].Shutdown() // a crash: no leave message
	survivors := nodes[:n-1]
	if err := waitAll(ctx, o.Timeout, survivors, n-1, "to notice the crash"); err != nil {
		return row, err
	}
	row.DetectS = time.Since(t0).Seconds()

	phase("regroup")
	t0 = time.Now()
	if row.RegroupGeneration, err = rendezvousAll(ctx, o.Timeout, survivors, row.Generation); err != nil {
		return row, err
	}
	row.RegroupS = time.Since(t0).Seconds()
	return row, nil
}

// joinAll starts n members of one job on loopback, each joining member 0.
func joinAll(ctx context.Context, o ControlOptions, n int) ([]*cluster.Membership, error) {
	first, err := cluster.Join(ctx, controlMember(o, 0, nil))
	if err != nil {
		return nil, err
	}
	nodes := make([]*cluster.Membership, n)
	nodes[0] = first
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() {
			nodes[i], errs[i] = cluster.Join(ctx, controlMember(o, i, []string{first.Addr()}))
		})
	}
	wg.Wait()
	var live []*cluster.Membership
	for i, m := range nodes {
		if m != nil {
			live = append(live, m)
		} else if err == nil {
			err = fmt.Errorf("member %d: %w", i, errs[i])
		}
	}
	return live, err
}

func controlMember(o ControlOptions, i int, seeds []string) cluster.MembershipConfig {
	return cluster.MembershipConfig{
		Member:   cluster.Member{Job: "study", Host: fmt.Sprintf("h%03d", i), NodeRank: -1, DataAddr: "127.0.0.1:1"},
		BindAddr: "127.0.0.1:0", Seeds: seeds, JoinTimeout: o.Timeout, Timing: o.Timing, Log: o.Log,
	}
}

// shutdownAll stops the members at once (one after another, 512 of them
// took minutes on two cores).
func shutdownAll(nodes []*cluster.Membership) {
	var wg sync.WaitGroup
	for _, m := range nodes {
		wg.Go(m.Shutdown)
	}
	wg.Wait()
}

// waitAll polls until every node lists want members, every pollEvery(n).
func waitAll(ctx context.Context, timeout time.Duration, nodes []*cluster.Membership, want int, what string) error {
	deadline, every := time.Now().Add(timeout), pollEvery(len(nodes))
	for {
		behind := 0
		for _, m := range nodes {
			if len(m.Members()) != want {
				behind++
			}
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s, %d of %d members still wait %s (%d members)", timeout, behind, len(nodes), what, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// pollEvery is how often waitAll looks at n members: a look lists every
// member's view (n views of n members, sorted), which every 10 ms took a
// third of the host's CPU at 128 members and starved the gossip it
// measures at 512; at 1 ms a member it costs a few percent of a core at
// any size, and the phases it times last seconds.
func pollEvery(n int) time.Duration {
	return max(10*time.Millisecond, time.Duration(n)*time.Millisecond)
}

// rendezvousAll runs Rendezvous on every node at once (world = all of
// them), checks they agree on one group of a generation newer than after,
// and returns that generation.
func rendezvousAll(ctx context.Context, timeout time.Duration, nodes []*cluster.Membership, after uint64) (uint64, error) {
	cfg := cluster.RendezvousConfig{Min: len(nodes), Max: len(nodes), Timeout: timeout}
	groups := make([]*cluster.Group, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, m := range nodes {
		wg.Go(func() { groups[i], errs[i] = m.Rendezvous(ctx, cfg) })
	}
	wg.Wait()
	var bad []string
	var gen uint64
	for i, g := range groups {
		if errs[i] == nil && gen == 0 {
			gen = g.Generation
		}
		switch {
		case errs[i] != nil:
			bad = append(bad, fmt.Sprintf("member %d: %v", i, errs[i]))
		case g.Generation != gen || g.Generation <= after || len(g.Members) != len(nodes):
			bad = append(bad, fmt.Sprintf("member %d: generation %d of %d members, want the others' %d (newer than %d) of %d",
				i, g.Generation, len(g.Members), gen, after, len(nodes)))
		}
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("rendezvous: %s", strings.Join(bad[:min(len(bad), 3)], "; "))
	}
	return gen, nil
}

// ControlTable renders rows as the text table `fdsm study control` prints.
func ControlTable(rows []ControlRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%8s %8s %12s %9s %10s %12s\n", "members", "form s", "rendezvous s", "detect s", "regroup s", "generations")
	for _, r := range rows {
		fmt.Fprintf(&b, "%8d %8.2f %12.2f %9.2f %10.2f %12s\n", r.Members, r.FormS, r.RendezvousS, r.DetectS, r.RegroupS,
			fmt.Sprintf("%d, %d", r.Generation, r.RegroupGeneration))
	}
	return b.String()
}
