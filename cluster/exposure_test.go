package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
)

// TestNodeRefusesOpenGossipAndDataPlane: a node whose gossip or data plane
// would listen beyond loopback without the job's keys refuses to start
// (a stranger could join, learn the workers' addresses and send gradients),
// unless the job is explicitly insecure; with the keys it starts.
func TestNodeRefusesOpenGossipAndDataPlane(t *testing.T) {
	keys, _ := DeriveJobKeys("the exposure test's secret")
	base := NodeConfig{
		Member: Member{Job: "exposed", Host: "127.0.0.1", Incarnation: 1}, Timing: FastTiming(),
		JoinTimeout: 5 * time.Second, NoBus: true, Log: zerolog.Nop(),
	}
	start := func(c NodeConfig) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nd, err := StartNode(ctx, c)
		if err == nil {
			nd.Close()
		}
		return err
	}
	open := base
	open.GossipAddr, open.DataAddr = "0.0.0.0:0", "0.0.0.0:0"
	err := start(open)
	if err == nil || !strings.Contains(err.Error(), "gossip on 0.0.0.0:0 and the data plane on 0.0.0.0:0") ||
		!strings.Contains(err.Error(), EnvJobSecret) || !strings.Contains(err.Error(), bus.EnvInsecure) {
		t.Fatalf("open node: %v", err)
	}
	dataOnly := open
	dataOnly.SecretKey = keys.Gossip
	if err := start(dataOnly); err == nil || strings.Contains(err.Error(), "gossip on") || !strings.Contains(err.Error(), "data plane") {
		t.Fatalf("open data plane: %v", err)
	}
	keyed := open
	keyed.SecretKey, keyed.DataKey = keys.Gossip, keys.Data
	if err := start(keyed); err != nil {
		t.Fatalf("node with the job's keys: %v", err)
	}
	insecure := open
	insecure.Insecure = true
	if err := start(insecure); err != nil {
		t.Fatalf("insecure node: %v", err)
	}
	local := base
	local.GossipAddr, local.DataAddr = "127.0.0.1:0", "127.0.0.1:0"
	if err := start(local); err != nil {
		t.Fatalf("loopback node: %v", err)
	}
}
