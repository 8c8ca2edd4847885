package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
)

// startBusJob starts an embedded bus with a token and connects a client as
// the given rank of job "demo", closed when the test ends.
func startBusJob(t *testing.T, secret []byte) (url string, rank0 *bus.Client) {
	t.Helper()
	srv, err := bus.StartServer(bus.ServerConfig{Token: "watch-token-1", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: srv.ClientURL(), Job: "demo", Rank: 0,
		Token: "watch-token-1", ControlSecret: secret, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return srv.ClientURL(), b
}

func TestWatchOnce(t *testing.T) {
	url, client := startBusJob(t, nil)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("watch-token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Two ranks report steps until the test ends; rank 1 arrives late.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for step := 1; ; step++ {
			now := time.Now().UnixNano()
			for r := 0; r < 2; r++ {
				client.PublishMetrics(bus.StepMetrics{Rank: r, World: 2, Generation: 1, Step: step,
					StepMs: 10 + float64(r), ArrivalUnixNano: now + int64(r)*int64(7*time.Millisecond), Loss: 1})
			}
			if step == 1 {
				client.PublishEvent(bus.Event{Kind: bus.EventStart, Rank: 0, World: 2, Generation: 1})
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	out, _, err := execute(t, newRootCmd(), "watch", "--job", "demo", "--nats-url", url,
		"--token-file", tokenFile, "--once", "--for", "600ms", "--events")
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Logf("fdsm watch --once:\n%s", out)
	for _, want := range []string{"job demo", "world 2", "reporting 2", "RANK", "LAG ms", "7.00", "SLOW",
		"slowest: rank 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("watch output lacks %q:\n%s", want, out)
		}
	}
	// The start event is only there if watch subscribed before step 1,
	// which the test does not arrange; events are shown either way.
	if !strings.Contains(out, "start rank 0") && !strings.Contains(out, "no events yet") {
		t.Errorf("events section missing:\n%s", out)
	}
}

func TestWatchNoServer(t *testing.T) {
	start := time.Now()
	_, _, err := execute(t, newRootCmd(), "watch", "--job", "demo", "--nats-url", "nats://127.0.0.1:1",
		"--connect-timeout", "300ms", "--once")
	if err == nil {
		t.Fatal("watch succeeded without a server")
	}
	t.Log(err)
	for _, want := range []string{"no NATS server reachable at nats://127.0.0.1:1", "--nats-url"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to give up", d)
	}
}

func TestWatchWrongToken(t *testing.T) {
	url, _ := startBusJob(t, nil)
	_, _, err := execute(t, newRootCmd(), "watch", "--job", "demo", "--nats-url", url, "--token", "nope", "--once")
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("err = %v", err)
	}
}

func TestWatchNeedsJob(t *testing.T) {
	t.Setenv(cluster.EnvJob, "")
	_, _, err := execute(t, newRootCmd(), "watch", "--once")
	if err == nil || !strings.Contains(err.Error(), "--job") {
		t.Fatalf("err = %v", err)
	}
}

// TestWatchWithJobSecret: a launched job's bus token is derived from its
// job secret, so fdsm watch reaches it with the secret file the launcher
// prints (or FDSM_JOB_SECRET), and is refused without it.
func TestWatchWithJobSecret(t *testing.T) {
	const secret = "a launched job's secret, long enough"
	keys, _ := cluster.DeriveJobKeys(secret)
	srv, err := bus.StartServer(bus.ServerConfig{Token: keys.BusToken, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	file := filepath.Join(t.TempDir(), cluster.JobSecretFileName)
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(bus.EnvNATSToken, "")
	t.Setenv(cluster.EnvJobSecret, "")
	if _, _, err := execute(t, newRootCmd(), "watch", "--job", "demo", "--nats-url", srv.ClientURL(), "--once",
		"--connect-timeout", "2s"); err == nil {
		t.Fatal("watch reached a secret job's bus without the secret")
	}
	if _, _, err := execute(t, newRootCmd(), "watch", "--job", "demo", "--nats-url", srv.ClientURL(), "--once",
		"--job-secret-file", file); err != nil {
		t.Fatalf("watch with the job secret file: %v", err)
	}
	t.Setenv(cluster.EnvJobSecret, secret)
	if _, _, err := execute(t, newRootCmd(), "watch", "--job", "demo", "--nats-url", srv.ClientURL(), "--once"); err != nil {
		t.Fatalf("watch with %s: %v", cluster.EnvJobSecret, err)
	}
}
