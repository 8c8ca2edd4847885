package cluster

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective/ring"

	"github.com/rs/zerolog"
)

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
	// Join the node's data plane as rank 1 of a two-rank ring: a keyless
	// plane is refused at once; one with the job's key gets past the
	// handshake and waits for a ring the node never builds.
	for _, key := range [][]byte{nil, keys.Data} {
		dp, err := ring.ListenDataPlane("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dp.SetKey(key)
		_, err = ring.New(ctx, dp, ring.Config{Job: "keyed", Generation: 1, Rank: 1,
			Addrs: []string{addr, dp.Addr()}, Timeout: 2 * time.Second, Log: zerolog.Nop()})
		dp.Close()
		refused := err != nil && strings.Contains(err.Error(), "authentication failed")
		if refused != (key == nil) {
			t.Fatalf("joining a keyed node with key %x: %v", key, err)
		}
	}
}
