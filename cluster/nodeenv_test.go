package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/bus"
)

func TestNodeConfigFromEnv(t *testing.T) {
	t.Setenv(EnvJob, "exp1")
	t.Setenv(EnvSeeds, "a:7946, b:7946")
	t.Setenv(EnvHost, "10.0.0.5")
	t.Setenv(EnvLocalRank, "3")
	t.Setenv(EnvNodeRank, "")
	t.Setenv(EnvJobCompletionIndex, "2")
	t.Setenv(EnvMinWorld, "4")
	t.Setenv(EnvMaxWorld, "8")
	t.Setenv(EnvLastCall, "0s")
	t.Setenv(EnvCollTimeout, "90s")
	t.Setenv(EnvGossipProfile, "fast")
	c, err := NodeConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	m := c.Member
	if m.Job != "exp1" || m.Host != "10.0.0.5" || m.LocalRank != 3 || m.NodeRank != 2 {
		t.Errorf("member %+v", m)
	}
	if len(c.Seeds) != 2 || c.Seeds[1] != "b:7946" {
		t.Errorf("seeds %q", c.Seeds)
	}
	if r := c.Rendezvous; r.Min != 4 || r.Max != 8 || r.LastCall >= 0 {
		t.Errorf("rendezvous %+v (a zero last call must mean none, i.e. negative)", r)
	}
	if c.CollectiveTimeout != 90*time.Second || c.Timing != FastTiming() {
		t.Errorf("timeout %v timing %+v", c.CollectiveTimeout, c.Timing)
	}

	// Malformed values are errors naming the variable.
	t.Setenv(EnvLocalRank, "three")
	t.Setenv(EnvCollTimeout, "soon")
	t.Setenv(EnvGossipProfile, "wan")
	_, err = NodeConfigFromEnv()
	for _, want := range []string{EnvLocalRank, EnvCollTimeout, EnvGossipProfile} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	t.Setenv(EnvJob, "")
	if _, err := NodeConfigFromEnv(); err == nil || !strings.Contains(err.Error(), EnvJob) {
		t.Errorf("missing job: %v", err)
	}
}

// TestJobSecretFillsKeys: FDSM_JOB_SECRET gives the data-plane key and,
// unless given on their own, the gossip key and the bus token; a short
// secret is an error naming it.
func TestJobSecretFillsKeys(t *testing.T) {
	t.Setenv(EnvJob, "exp1")
	for _, v := range []string{EnvGossipKey, EnvGossipKeyFile, bus.EnvNATSToken, bus.EnvBusNKeyUsers, bus.EnvNATSNKeySeed} {
		t.Setenv(v, "")
	}
	t.Setenv(EnvJobSecret, "the job secret, long enough")
	keys, _ := DeriveJobKeys("the job secret, long enough")
	c, err := NodeConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if string(c.DataKey) != string(keys.Data) || string(c.SecretKey) != string(keys.Gossip) ||
		c.Bus.Token != keys.BusToken || c.BusServer.Token != keys.BusToken {
		t.Fatalf("keys not derived from the job secret: data %x gossip %x bus %q/%q", c.DataKey, c.SecretKey, c.Bus.Token, c.BusServer.Token)
	}
	t.Setenv(bus.EnvNATSToken, "the operator's token")
	if c, err = NodeConfigFromEnv(); err != nil || c.Bus.Token != "the operator's token" || c.BusServer.Token != "the operator's token" {
		t.Fatalf("an explicit bus token must win: %q %v", c.Bus.Token, err)
	}
	t.Setenv(bus.EnvNATSToken, "")
	own := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes, base64
	t.Setenv(EnvGossipKey, own)
	if c, err = NodeConfigFromEnv(); err != nil || string(c.SecretKey) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("an explicit gossip key must win: %q %v", c.SecretKey, err)
	}
	t.Setenv(EnvJobSecret, "short")
	if _, err := NodeConfigFromEnv(); err == nil || !strings.Contains(err.Error(), EnvJobSecret) {
		t.Fatalf("short secret: %v", err)
	}
}
