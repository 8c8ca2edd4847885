package cluster

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestDataPlaneAuthenticatesConnections: with the job's data-plane key set,
// ranks holding it build a ring and reduce; a connection made with another
// job's key, with no key, or replaying a hello recorded from another
// connection is refused before anything else is read, and the ring keeps
// working. Without a key (an insecure job) connections are accepted as
// before.
func TestDataPlaneAuthenticatesConnections(t *testing.T) {
	mine, err := DeriveJobKeys("this job's secret, long enough")
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := DeriveJobKeys("another job's secret, as long")
	dps, addrs := listenPlanes(t, 2)
	for _, dp := range dps {
		dp.SetKey(mine.Data)
	}
	cfg := RingConfig{Job: "j", Generation: 1, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()}
	// Rank 0's ring is built first so that its slot waits for rank 1.
	hello := ringHello{job: "j", gen: 2, from: 1, to: 0, world: 2}
	for _, c := range []struct {
		what string
		key  []byte
	}{{"another job's key", theirs.Data}, {"no key", nil}} {
		_, code, msg, err := dialOnce(context.Background(), addrs[0], hello, c.key, time.Second)
		if err != nil || code != replyRefused || !strings.Contains(msg, "authentication failed") {
			t.Errorf("%s: code %d %q %v, want an authentication refusal", c.what, code, msg, err)
		}
	}

	// A replay: a hello with a valid MAC for one connection's nonce, sent on
	// another connection (whose nonce differs).
	first, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := readChallenge(first)
	if err != nil {
		t.Fatal(err)
	}
	var recorded bytes.Buffer
	if err := writeHello(&recorded, hello, mine.Data, nonce); err != nil {
		t.Fatal(err)
	}
	first.Close()
	replay, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	replay.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := readChallenge(replay); err != nil {
		t.Fatal(err)
	}
	replay.Write(recorded.Bytes())
	code, msg, err := readReply(replay)
	if err != nil || code != replyRefused || !strings.Contains(msg, "authentication failed") {
		t.Errorf("replayed hello: code %d %q %v, want an authentication refusal", code, msg, err)
	}
	if _, err := io.ReadAll(replay); err != nil {
		t.Errorf("replayed hello: the connection was not closed cleanly: %v", err)
	}

	allReduceOnes(t, mustRings(t, dps, cfg))

	// Keys that differ between ranks: the ring does not form.
	other, otherAddrs := listenPlanes(t, 2)
	other[0].SetKey(mine.Data)
	other[1].SetKey(theirs.Data)
	short := RingConfig{Job: "j", Generation: 1, Addrs: otherAddrs, Timeout: 2 * time.Second, Log: zerolog.Nop()}
	if _, errs := buildRings(t, other, short); errs[0] == nil && errs[1] == nil {
		t.Error("ranks with different job keys built a ring")
	}

	// No key anywhere: as before.
	open, openAddrs := listenPlanes(t, 2)
	allReduceOnes(t, mustRings(t, open, RingConfig{Job: "j", Generation: 1, Addrs: openAddrs, Timeout: 10 * time.Second, Log: zerolog.Nop()}))
}

func TestDeriveJobKeys(t *testing.T) {
	a, err := DeriveJobKeys("a secret of twenty chars")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveJobKeys("a secret of twenty chars")
	c, _ := DeriveJobKeys("another secret, twenty")
	if !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.Gossip, b.Gossip) || bytes.Equal(a.Data, c.Data) {
		t.Fatal("keys are not a function of the secret")
	}
	if bytes.Equal(a.Data, a.Gossip) || len(a.Gossip) != 32 {
		t.Fatal("one key serves two uses, or the gossip key is not AES-256")
	}
	if _, err := DeriveJobKeys("short"); err == nil || !strings.Contains(err.Error(), EnvJobSecret) {
		t.Fatalf("a short secret: %v", err)
	}
	s1, _ := NewJobSecret()
	s2, _ := NewJobSecret()
	if s1 == s2 || len(s1) < minJobSecretLen {
		t.Fatalf("NewJobSecret: %q, %q", s1, s2)
	}
}

// TestNodeDataPlaneUsesJobKey: a node started with the job's data-plane key
// (NodeConfigFromEnv derives it from FDSM_JOB_SECRET) refuses connections
// that do not prove they hold it.
func TestNodeDataPlaneUsesJobKey(t *testing.T) {
	keys, _ := DeriveJobKeys("the node test's job secret")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nd, err := StartNode(ctx, NodeConfig{
		Member:     Member{Job: "keyed", Host: "127.0.0.1", LocalRank: 0, Incarnation: 1},
		GossipAddr: "127.0.0.1:0", DataAddr: "127.0.0.1:0", Timing: FastTiming(), JoinTimeout: 10 * time.Second,
		DataKey: keys.Data, SecretKey: keys.Gossip, NoBus: true, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	addr := nd.Membership().Self().DataAddr
	hello := ringHello{job: "keyed", gen: 1, from: 1, to: 0, world: 2}
	if _, code, msg, err := dialOnce(ctx, addr, hello, nil, time.Second); err != nil || code != replyRefused || !strings.Contains(msg, "authentication failed") {
		t.Fatalf("a keyless connection to a keyed node: code %d %q %v", code, msg, err)
	}
	if _, code, _, err := dialOnce(ctx, addr, hello, keys.Data, time.Second); err != nil || code != replyNotReady {
		t.Fatalf("a connection with the job's key: code %d %v, want not ready (no ring yet)", code, err)
	}
}
