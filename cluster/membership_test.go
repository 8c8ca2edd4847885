package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// msMember returns a test member of job on host with local rank lr.
func msMember(job, host string, lr int, inc uint64) Member {
	return Member{Job: job, Host: host, NodeRank: -1, LocalRank: lr, Incarnation: inc,
		Devices: lr % 3, DataAddr: fmt.Sprintf("127.0.0.1:%d", 20000+lr)}
}

// msConfig is a fast in-process node on a free loopback port.
func msConfig(mem Member, seeds ...string) MembershipConfig {
	return MembershipConfig{Member: mem, BindAddr: "127.0.0.1:0", Seeds: seeds,
		JoinTimeout: 5 * time.Second, Timing: FastTiming(), Log: zerolog.Nop()}
}

// msStart joins a node and shuts it down at the end of the test.
func msStart(t *testing.T, cfg MembershipConfig) *Membership {
	t.Helper()
	m, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatalf("join %s: %v", cfg.Member.Host, err)
	}
	t.Cleanup(m.Shutdown)
	return m
}

// msCluster starts n nodes of job on hosts h0..h{n-1}, each joining the first.
func msCluster(t *testing.T, job string, n int) []*Membership {
	t.Helper()
	var out []*Membership
	for i := range n {
		var seeds []string
		if i > 0 {
			seeds = []string{out[0].Addr()}
		}
		out = append(out, msStart(t, msConfig(msMember(job, fmt.Sprintf("h%d", i), 0, 0), seeds...)))
	}
	for _, m := range out {
		msWaitMembers(t, m, n)
	}
	return out
}

// msEventually polls cond until it holds or fails the test after d.
func msEventually(t *testing.T, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+format, append([]any{d}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func msWaitMembers(t *testing.T, m *Membership, n int) {
	t.Helper()
	msEventually(t, 5*time.Second, func() bool { return len(m.Members()) == n },
		"%s sees %d members, want %d", m.name, len(m.Members()), n)
}

// msWaitEvent reads m's events until one of kind about name arrives.
func msWaitEvent(t *testing.T, m *Membership, kind MemberEventKind, name string, d time.Duration) MemberEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				t.Fatalf("%s: events closed", m.name)
			}
			if ev.Kind == kind && ev.Member.Name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no %s event for %s within %s", m.name, kind, name, d)
		}
	}
}

func msNames(ms []Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return strings.Join(s, " ")
}

func TestMembershipJoinAndMetadata(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	want := "j/h0/0/0 j/h1/0/0 j/h2/0/0"
	for _, m := range nodes {
		if got := msNames(m.Members()); got != want {
			t.Fatalf("%s: members %q, want %q (sorted by Less)", m.name, got, want)
		}
	}
	self := nodes[1].Self()
	if self.Name != "j/h1/0/0" || self.DataAddr != "127.0.0.1:20000" {
		t.Fatalf("self %+v", self)
	}
	// Metadata round trip, including an update.
	if err := nodes[1].UpdateMeta(func(m *Member) { m.DataAddr = "10.0.0.7:1234"; m.Devices = 8 }); err != nil {
		t.Fatal(err)
	}
	// Our own entry is our current state at once (the views above, cached
	// until a change, must not be served again).
	if got := nodes[1].Members()[1]; got.DataAddr != "10.0.0.7:1234" || got.Devices != 8 {
		t.Fatalf("own entry after the update %+v", got)
	}
	ev := msWaitEvent(t, nodes[0], MemberUpdated, "j/h1/0/0", 5*time.Second)
	if ev.Member.DataAddr != "10.0.0.7:1234" || ev.Member.Devices != 8 {
		t.Fatalf("updated member %+v", ev.Member)
	}
	msEventually(t, 5*time.Second, func() bool { return nodes[2].Members()[1].DataAddr == "10.0.0.7:1234" },
		"update not seen by h2")
	if err := nodes[1].UpdateMeta(func(m *Member) { m.Name = "other" }); err == nil {
		t.Fatal("renaming through UpdateMeta accepted")
	}
}

func TestMembershipMetadataLimit(t *testing.T) {
	mem := msMember("j", "h0", 0, 0)
	mem.DataAddr = strings.Repeat("x", 500)
	_, err := Join(context.Background(), msConfig(mem))
	if err == nil || !strings.Contains(err.Error(), "512") {
		t.Fatalf("oversized metadata: err %v, want the 512-byte limit named", err)
	}
	m := msStart(t, msConfig(msMember("j", "h0", 0, 0)))
	if err := m.UpdateMeta(func(m *Member) { m.BusURL = strings.Repeat("y", 600) }); err == nil ||
		!strings.Contains(err.Error(), "512") {
		t.Fatalf("oversized update: err %v", err)
	}
	if got := m.Self().BusURL; got != "" {
		t.Fatalf("refused update applied: %q", got)
	}
	if _, err := Join(context.Background(), msConfig(Member{Host: "h"})); err == nil {
		t.Fatal("member without a job accepted")
	}
}

func TestMembershipFailureAndLeave(t *testing.T) {
	nodes := msCluster(t, "j", 4)
	// Shutdown without Leave is a crash: all others see it fail.
	nodes[3].Shutdown()
	for _, m := range nodes[:3] {
		ev := msWaitEvent(t, m, MemberFailed, "j/h3/0/0", 8*time.Second)
		if ev.Member.Host != "h3" || ev.Time.IsZero() {
			t.Fatalf("failed event %+v", ev)
		}
	}
	// Close leaves first: the others see a graceful Left.
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range nodes[:2] {
		msWaitEvent(t, m, MemberLeft, "j/h2/0/0", 5*time.Second)
		msWaitMembers(t, m, 2)
	}
	if err := nodes[2].Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, ok := <-nodes[2].Events(); ok {
		// Drain: the channel must end closed.
		for range nodes[2].Events() {
		}
	}
}

func TestMembershipRestartedSlot(t *testing.T) {
	nodes := msCluster(t, "j", 3)
	nodes[2].Shutdown() // crash; the others have not noticed yet
	again := msStart(t, msConfig(msMember("j", "h2", 0, 1), nodes[0].Addr()))
	// The new incarnation replaces the old one at once, before the failure
	// detector declares the old dead.
	for _, m := range []*Membership{nodes[0], nodes[1], again} {
		msEventually(t, 5*time.Second, func() bool {
			return msNames(m.Members()) == "j/h0/0/0 j/h1/0/0 j/h2/0/1"
		}, "%s members %q", m.name, msNames(m.Members()))
	}
	msWaitEvent(t, nodes[0], MemberFailed, "j/h2/0/0", 8*time.Second)
	if got := msNames(nodes[0].Members()); got != "j/h0/0/0 j/h1/0/0 j/h2/0/1" {
		t.Fatalf("after the old failed: %q", got)
	}
}

func TestMembershipNameConflict(t *testing.T) {
	nodes := msCluster(t, "j", 2)
	nodes[1].Shutdown() // crash, then restart under the same name
	cfg := msConfig(msMember("j", "h1", 0, 0), nodes[0].Addr())
	cfg.JoinTimeout = 3 * time.Second
	m, err := Join(context.Background(), cfg)
	if err == nil {
		// Only acceptable if the old process was already declared dead.
		m.Shutdown()
		t.Skip("old process already declared dead; no conflict to see")
	}
	if !errors.Is(err, ErrNameConflict) || !strings.Contains(err.Error(), "incarnation") {
		t.Fatalf("same-name join: %v, want ErrNameConflict with advice", err)
	}
	// Once the old one is declared dead, the name can be taken over.
	msWaitEvent(t, nodes[0], MemberFailed, "j/h1/0/0", 8*time.Second)
	m = msStart(t, cfg)
	msWaitMembers(t, nodes[0], 2)
	msWaitMembers(t, m, 2)
}

func TestMembershipJobsShareAPool(t *testing.T) {
	a0 := msStart(t, msConfig(msMember("a", "h0", 0, 0)))
	b0 := msStart(t, msConfig(msMember("b", "h0", 0, 0), a0.Addr()))
	a1 := msStart(t, msConfig(msMember("a", "h1", 0, 0), b0.Addr()))
	b1 := msStart(t, msConfig(msMember("b", "h1", 0, 0), a1.Addr()))
	msEventually(t, 5*time.Second, func() bool { return a0.ml.NumMembers() == 4 }, "pool not formed")
	for _, m := range []*Membership{a0, a1, b0, b1} {
		msWaitMembers(t, m, 2)
		for _, mem := range m.Members() {
			if mem.Job != m.Self().Job {
				t.Fatalf("%s lists %s of another job", m.name, mem.Name)
			}
		}
	}
	b1.Shutdown()
	msWaitEvent(t, b0, MemberFailed, "b/h1/0/0", 8*time.Second)
	for {
		select {
		case ev := <-a0.Events():
			if ev.Member.Job != "a" {
				t.Fatalf("job a got an event about %s", ev.Member.Name)
			}
			continue
		default:
		}
		break
	}
}

func TestMembershipSeeds(t *testing.T) {
	// Seeds naming only ourselves: the first node, no waiting.
	var first *Membership
	for attempt := 0; first == nil; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cfg := msConfig(msMember("j", "h0", 0, 0), addr)
		cfg.BindAddr = addr
		m, err := Join(context.Background(), cfg)
		if err != nil {
			if attempt < 5 && strings.Contains(err.Error(), "address already in use") {
				continue
			}
			t.Fatal(err)
		}
		t.Cleanup(m.Shutdown)
		first = m
	}
	// A DNS name stands for all its addresses (localhost may also be ::1,
	// where nobody listens: one reachable address is enough). A machine
	// without a localhost entry (a bare debootstrap has no /etc/hosts)
	// cannot name itself; the rest of the test still runs there.
	_, port, _ := splitHostPortDefault(first.Addr(), 0)
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Logf("skipping the DNS-name seed: this machine does not resolve localhost (%v)", err)
	} else {
		second := msStart(t, msConfig(msMember("j", "h1", 0, 0), fmt.Sprintf("localhost:%d", port)))
		msWaitMembers(t, second, 2)
		msWaitMembers(t, first, 2)
	}

	// Nobody at the seed: a clear error within JoinTimeout.
	cfg := msConfig(msMember("j", "h2", 0, 0), "127.0.0.1:1")
	cfg.JoinTimeout = 700 * time.Millisecond
	start := time.Now()
	_, err := Join(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "gave up") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unreachable seed: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("join took %s past its timeout", el)
	}
}

func TestMembershipEventsDropOldest(t *testing.T) {
	m := msStart(t, msConfig(msMember("j", "h0", 0, 0)))
	m.mu.Lock()
	for i := range eventBuffer + 5 {
		m.emitLocked(MemberUpdated, Member{Name: fmt.Sprint(i), Job: "j"})
	}
	m.mu.Unlock()
	if d := m.DroppedEvents(); d != 5 {
		t.Fatalf("dropped %d, want 5", d)
	}
	if ev := <-m.Events(); ev.Member.Name != "5" {
		t.Fatalf("oldest kept event %s, want 5", ev.Member.Name)
	}
}

// TestJoinSettlesWithoutGossip: members that each join only the first
// learn of the members that joined after them by the exchanges of the
// settle loop, with gossip, push/pull and probes off (as when gossip
// loses the joins while a large job starts); without it the earlier
// members would wait for a push/pull (here an hour).
func TestJoinSettlesWithoutGossip(t *testing.T) {
	var nodes []*Membership
	for i := range 4 {
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].Addr()}
		}
		nodes = append(nodes, msStart(t, msSilentConfig(i, 200*time.Millisecond, seeds...)))
	}
	for _, m := range nodes {
		msWaitMembers(t, m, 4)
	}
}

// msSilentConfig is host h<i> of job j with gossip, push/pull and probes
// off (an hour apart), exchanging state every sync.
func msSilentConfig(i int, sync time.Duration, seeds ...string) MembershipConfig {
	cfg := msConfig(msMember("j", fmt.Sprintf("h%d", i), 0, 0), seeds...)
	cfg.Timing.GossipInterval, cfg.Timing.PushPullInterval, cfg.Timing.ProbeInterval = time.Hour, time.Hour, time.Hour
	cfg.Timing.RendezvousSync = sync
	return cfg
}
