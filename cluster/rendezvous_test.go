package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rdvResult is one member's Rendezvous outcome.
type rdvResult struct {
	g   *Group
	err error
}

// rdvStart runs Rendezvous on m in the background.
func rdvStart(m *Membership, cfg RendezvousConfig) <-chan rdvResult {
	ch := make(chan rdvResult, 1)
	go func() {
		g, err := m.Rendezvous(context.Background(), cfg)
		ch <- rdvResult{g, err}
	}()
	return ch
}

// rdvCollect waits for every result and checks that all members got the
// same group, each with its own rank.
func rdvCollect(t *testing.T, nodes []*Membership, chs []<-chan rdvResult) *Group {
	t.Helper()
	var first *Group
	for i, ch := range chs {
		var r rdvResult
		select {
		case r = <-ch:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: rendezvous did not return", nodes[i].name)
		}
		if r.err != nil {
			t.Fatalf("%s: %v", nodes[i].name, r.err)
		}
		if r.g.Members[r.g.Rank].Name != nodes[i].name {
			t.Fatalf("%s: rank %d names %s", nodes[i].name, r.g.Rank, r.g.Members[r.g.Rank].Name)
		}
		if first == nil {
			first = r.g
			continue
		}
		a, b := *first, *r.g
		a.Rank, b.Rank = 0, 0
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("groups differ:\n%s\n%s", first, r.g)
		}
	}
	return first
}

func rdvFast(min, max int) RendezvousConfig {
	return RendezvousConfig{Min: min, Max: max, LastCall: 500 * time.Millisecond, Timeout: 15 * time.Second}
}

func TestRendezvousLateJoiner(t *testing.T) {
	nodes := msCluster(t, "j", 2)
	cfg := rdvFast(2, 4)
	cfg.LastCall = 1500 * time.Millisecond
	chs := []<-chan rdvResult{rdvStart(nodes[0], cfg), rdvStart(nodes[1], cfg)}
	// A third member starts after the others wait, inside the last call.
	time.Sleep(300 * time.Millisecond)
	late := msStart(t, msConfig(msMember("j", "h2", 0, 0), nodes[1].Addr()))
	nodes = append(nodes, late)
	chs = append(chs, rdvStart(late, cfg))
	g := rdvCollect(t, nodes, chs)
	if g.Generation != 1 || msNames(g.Members) != "j/h0/0/0 j/h1/0/0 j/h2/0/0" {
		t.Fatalf("group %s", g)
	}
	if g.DataAddrs()[2] != late.Self().DataAddr {
		t.Fatalf("data addresses %v", g.DataAddrs())
	}
}

func TestRendezvousMaxSkipsLastCall(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	// With a last call longer than the timeout, only reaching Max can succeed.
	cfg := RendezvousConfig{Min: 2, Max: 3, LastCall: time.Hour, Timeout: 15 * time.Second}
	var chs []<-chan rdvResult
	for _, m := range nodes {
		chs = append(chs, rdvStart(m, cfg))
	}
	g := rdvCollect(t, nodes, chs)
	if g.Size() != 3 || g.Generation != 1 {
		t.Fatalf("group %s", g)
	}
}

func TestRendezvousTooFewTimesOut(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	// h2 is present but does not take part. h1 waits first, with a timeout
	// that outlasts the test; h0 joins only once gossip has shown it h1
	// waiting, so when h0 times out it counts both, however slowly gossip
	// runs on a loaded machine (a fixed head start flaked: "1 ready").
	ctx1, stop1 := context.WithCancel(context.Background())
	defer stop1()
	ch1 := make(chan rdvResult, 1)
	go func() {
		g, err := nodes[1].Rendezvous(ctx1, RendezvousConfig{Min: 3, LastCall: -1, Timeout: time.Minute})
		ch1 <- rdvResult{g, err}
	}()
	msEventually(t, 20*time.Second, func() bool { return msNames(nodes[0].Waiting()) == "j/h1/0/0" },
		"h0 never saw h1 waiting: %s", msNames(nodes[0].Waiting()))
	r := <-rdvStart(nodes[0], RendezvousConfig{Min: 3, LastCall: -1, Timeout: time.Second})
	if r.err == nil {
		t.Fatalf("rendezvous of 2 with min 3 succeeded: %s", r.g)
	}
	for _, want := range []string{"timed out after 1s", "2 ready of min 3", "j/h0/0/0", "j/h1/0/0", "j/h2/0/0 (not in rendezvous)", "deadline exceeded"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error %q lacks %q", r.err, want)
		}
	}
	// h1, still waiting, is stopped by its caller: the error says so.
	stop1()
	r = <-ch1
	if r.err == nil || !strings.Contains(r.err.Error(), "stopped") || !strings.Contains(r.err.Error(), "min 3") ||
		!errors.Is(r.err, context.Canceled) {
		t.Errorf("stopped rendezvous: %v", r.err)
	}
	msEventually(t, 5*time.Second, func() bool { return len(nodes[2].Waiting()) == 0 },
		"still waiting after the timeout: %s", msNames(nodes[2].Waiting()))
	if _, err := nodes[0].Rendezvous(context.Background(), RendezvousConfig{Min: 3, Max: 2}); err == nil {
		t.Fatal("max below min accepted")
	}
}

func TestRendezvousRegroupAfterFailure(t *testing.T) {
	nodes := msCluster(t, "j", 4)
	cfg := rdvFast(3, 4)
	// h1 stays out: members that do not call Rendezvous are not included.
	active := []*Membership{nodes[0], nodes[2], nodes[3]}
	var chs []<-chan rdvResult
	for _, m := range active {
		chs = append(chs, rdvStart(m, cfg))
	}
	g1 := rdvCollect(t, active, chs)
	if g1.Generation != 1 || msNames(g1.Members) != "j/h0/0/0 j/h2/0/0 j/h3/0/0" {
		t.Fatalf("first group %s", g1)
	}
	// Rank 0 crashes; the survivors regroup.
	nodes[0].Shutdown()
	survivors := []*Membership{nodes[2], nodes[3]}
	for _, m := range survivors {
		msWaitEvent(t, m, MemberFailed, "j/h0/0/0", 8*time.Second)
	}
	chs = nil
	for _, m := range survivors {
		chs = append(chs, rdvStart(m, rdvFast(2, 4)))
	}
	g2 := rdvCollect(t, survivors, chs)
	if g2.Generation != 2 || msNames(g2.Members) != "j/h2/0/0 j/h3/0/0" {
		t.Fatalf("regroup %s", g2)
	}
	if g2.Rank != 0 && g2.Rank != 1 {
		t.Fatalf("rank %d", g2.Rank)
	}
	if lg := nodes[3].LastGroup(); lg == nil || lg.Generation != 2 || lg.Rank != 1 {
		t.Fatalf("last group %v", lg)
	}
}

func TestRendezvousReplacementWaits(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	cfg := rdvFast(3, 3)
	var chs []<-chan rdvResult
	for _, m := range nodes {
		chs = append(chs, rdvStart(m, cfg))
	}
	rdvCollect(t, nodes, chs)

	// h2 crashes and comes back with a new incarnation before the others
	// notice: it waits for the running group instead of forming its own.
	nodes[2].Shutdown()
	back := msStart(t, msConfig(msMember("j", "h2", 0, 1), nodes[0].Addr()))
	backCh := rdvStart(back, rdvFast(1, 3))
	for _, m := range nodes[:2] {
		msEventually(t, 5*time.Second, func() bool { return msNames(m.Waiting()) == "j/h2/0/1" },
			"%s: waiting %q", m.name, msNames(m.Waiting()))
	}
	select {
	case r := <-backCh:
		t.Fatalf("replacement did not wait for the running group: %v %v", r.g, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	// The group regroups (at its next checkpoint) and takes it in.
	members := []*Membership{nodes[0], nodes[1], back}
	chs = []<-chan rdvResult{rdvStart(nodes[0], cfg), rdvStart(nodes[1], cfg), backCh}
	g := rdvCollect(t, members, chs)
	if g.Generation != 2 || msNames(g.Members) != "j/h0/0/0 j/h1/0/0 j/h2/0/1" {
		t.Fatalf("regroup %s", g)
	}
}

func TestRendezvousJobsSeparate(t *testing.T) {
	a0 := msStart(t, msConfig(msMember("a", "h0", 0, 0)))
	b0 := msStart(t, msConfig(msMember("b", "h0", 0, 0), a0.Addr()))
	a1 := msStart(t, msConfig(msMember("a", "h1", 0, 0), b0.Addr()))
	b1 := msStart(t, msConfig(msMember("b", "h1", 0, 0), a1.Addr()))
	nodes := []*Membership{a0, a1, b0, b1}
	for _, m := range nodes {
		msWaitMembers(t, m, 2)
	}
	cfg := rdvFast(2, 4)
	var chs []<-chan rdvResult
	for _, m := range nodes {
		chs = append(chs, rdvStart(m, cfg))
	}
	ga := rdvCollect(t, nodes[:2], chs[:2])
	gb := rdvCollect(t, nodes[2:], chs[2:])
	if ga.Job != "a" || msNames(ga.Members) != "a/h0/0/0 a/h1/0/0" || ga.Generation != 1 {
		t.Fatalf("job a: %s", ga)
	}
	if gb.Job != "b" || msNames(gb.Members) != "b/h0/0/0 b/h1/0/0" || gb.Generation != 1 {
		t.Fatalf("job b: %s", gb)
	}
}

func TestRendezvousCoordinatorHook(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	var calls atomic.Int32
	var chs []<-chan rdvResult
	for i, m := range nodes {
		cfg := rdvFast(3, 3)
		cfg.OnCoordinator = func(ctx context.Context) (string, error) {
			calls.Add(1)
			return fmt.Sprintf("nats://h%d:4222", i), nil
		}
		chs = append(chs, rdvStart(m, cfg))
	}
	g := rdvCollect(t, nodes, chs)
	if g.BusURL != "nats://h0:4222" || calls.Load() != 1 {
		t.Fatalf("bus URL %q after %d hook calls; want rank 0's, once", g.BusURL, calls.Load())
	}
}

// TestRendezvousAcceptRules drives one member's acceptance rules directly.
func TestRendezvousAcceptRules(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	prep := func(gen uint64, coord *Membership, members ...*Membership) rdvMsg {
		msg := rdvMsg{Kind: rdvPrepare, Job: "j", From: coord.name, Coord: coord.name, Gen: gen}
		for _, m := range members {
			msg.Members = append(msg.Members, m.Self())
		}
		return msg
	}
	decide := func(msg rdvMsg) rdvMsg {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.onPrepareLocked(msg)
	}
	expect := func(msg rdvMsg, kind, reason string) {
		t.Helper()
		got := decide(msg)
		if got.Kind != kind || !strings.Contains(got.Reason, reason) {
			t.Fatalf("gen %d from %s: %s %q, want %s %q", msg.Gen, msg.Coord, got.Kind, got.Reason, kind, reason)
		}
	}
	expect(prep(1, a, a, b), rdvNack, "not waiting")
	if err := b.startRendezvous(); err != nil {
		t.Fatal(err)
	}
	expect(prep(1, a, a, c), rdvNack, "not in the proposed group")
	stale := prep(1, a, a, b)
	stale.Members[1].DataAddr = "elsewhere:1"
	expect(stale, rdvNack, "stale metadata")
	expect(prep(1, a, a, b), rdvAck, "")
	expect(prep(1, a, a, b), rdvAck, "") // repeated
	expect(prep(2, c, b, c), rdvNack, "malformed")
	expect(prep(5, b, b, c), rdvNack, "holding generation 1")
	// A newer proposal from the same coordinator replaces its older one.
	expect(prep(3, a, a, b), rdvAck, "")
	b.handleRdvMsg(rdvMsg{Kind: rdvAbort, Job: "j", From: a.name, Coord: a.name, Gen: 3})
	expect(prep(2, a, a, b), rdvNack, "not newer than 3")
	// Another job's messages are ignored.
	b.handleRdvMsg(rdvMsg{Kind: rdvCommit, Job: "other", From: a.name, Coord: a.name, Gen: 4})
	expect(prep(4, a, a, b, c), rdvAck, "")
	b.handleRdvMsg(rdvMsg{Kind: rdvCommit, Job: "j", From: a.name, Coord: a.name, Gen: 4})
	act, err := b.rdvStep(&rdvRun{cfg: rdvFast(1, 3)}, time.Now())
	if err != nil || act.group == nil || act.group.Generation != 4 || act.group.Rank != 1 || act.group.Size() != 3 {
		t.Fatalf("commit: %v %+v", err, act)
	}
	if s := b.Self(); s.Name != b.name {
		t.Fatal(s)
	}
	b.mu.Lock()
	seen, grp, ready := b.self.Seen, b.self.Group, b.self.Ready
	b.mu.Unlock()
	if seen != 4 || grp != 4 || ready {
		t.Fatalf("after commit: seen %d group %d ready %v", seen, grp, ready)
	}
}

// TestRendezvousCoordinatorDies: a member locked to a dead coordinator's
// proposal lets go of it, still takes a late commit of it if it promised
// nothing since, and regroups above that generation without the dead one.
func TestRendezvousCoordinatorDies(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	run := &rdvRun{cfg: rdvFast(2, 3)}
	if err := b.startRendezvous(); err != nil {
		t.Fatal(err)
	}
	msg := rdvMsg{Kind: rdvPrepare, Job: "j", From: a.name, Coord: a.name, Gen: 7,
		Members: []Member{a.Self(), b.Self()}}
	b.mu.Lock()
	got := b.onPrepareLocked(msg)
	b.mu.Unlock()
	if got.Kind != rdvAck {
		t.Fatalf("prepare: %+v", got)
	}
	a.Shutdown()
	msWaitEvent(t, b, MemberFailed, a.name, 8*time.Second)
	if act, err := b.rdvStep(run, time.Now()); err != nil || act.group != nil {
		t.Fatalf("step: %v %+v", err, act)
	}
	b.mu.Lock()
	locked, released := b.rdv.lock, b.rdv.released
	b.mu.Unlock()
	if locked != nil || !released.is(7, a.name) {
		t.Fatalf("lock %+v released %+v after the coordinator died", locked, released)
	}
	// The coordinator's commit, sent before it died, arrives late.
	b.handleRdvMsg(rdvMsg{Kind: rdvCommit, Job: "j", From: a.name, Coord: a.name, Gen: 7})
	act, err := b.rdvStep(run, time.Now())
	if err != nil || act.group == nil || act.group.Generation != 7 || act.group.Rank != 1 {
		t.Fatalf("late commit: %v %+v", err, act)
	}
	// Its group has a dead rank 0: b and c regroup above generation 7.
	chs := []<-chan rdvResult{rdvStart(b, rdvFast(2, 3)), rdvStart(c, rdvFast(2, 3))}
	g := rdvCollect(t, []*Membership{b, c}, chs)
	if g.Generation != 8 || msNames(g.Members) != "j/h1/0/0 j/h2/0/0" {
		t.Fatalf("regroup %s", g)
	}
}

func TestRendezvousRepeatedRegroups(t *testing.T) {
	nodes := msCluster(t, "j", 4)
	var last uint64
	for round := range 3 {
		var chs []<-chan rdvResult
		for _, m := range nodes {
			chs = append(chs, rdvStart(m, RendezvousConfig{Min: 4, Timeout: 15 * time.Second}))
		}
		g := rdvCollect(t, nodes, chs)
		if g.Generation <= last || g.Size() != 4 {
			t.Fatalf("round %d: %s after generation %d", round, g, last)
		}
		last = g.Generation
	}
}

// TestRendezvousHealsLostGossip: a member's readiness travels by gossip,
// which may lose an update; a waiting rendezvous then exchanges state with
// a random member instead of waiting for the next push/pull. Here gossip
// probes (which carry gossip too) and push/pull never run (hour-long
// intervals), so every readiness update is lost: without the exchange the
// rendezvous times out.
func TestRendezvousHealsLostGossip(t *testing.T) {
	var nodes []*Membership
	for i := range 3 {
		var seeds []string // every earlier node: without gossip, joins alone spread membership
		for _, m := range nodes {
			seeds = append(seeds, m.Addr())
		}
		nodes = append(nodes, msStart(t, msSilentConfig(i, 300*time.Millisecond, seeds...)))
	}
	for _, m := range nodes {
		msWaitMembers(t, m, 3)
	}
	cfg := RendezvousConfig{Min: 3, LastCall: -1, Timeout: 20 * time.Second}
	var chs []<-chan rdvResult
	for _, m := range nodes {
		chs = append(chs, rdvStart(m, cfg))
	}
	g := rdvCollect(t, nodes, chs)
	if g.Generation != 1 || len(g.Members) != 3 {
		t.Fatalf("group %s", g)
	}
}
