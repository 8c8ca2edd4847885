package ring

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	// Keys as cluster.DeriveJobKeys makes them: 32 bytes per job.
	mine, theirs := testKey("this job"), testKey("another job")
	dps, addrs := listenPlanes(t, 2)
	for _, dp := range dps {
		dp.SetKey(mine)
	}
	cfg := Config{Job: "j", Generation: 1, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()}
	// Rank 0's ring is built first so that its slot waits for rank 1.
	hello := ringHello{job: "j", gen: 2, from: 1, to: 0, world: 2}
	for _, c := range []struct {
		what string
		key  []byte
	}{{"another job's key", theirs}, {"no key", nil}} {
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
	if err := writeHello(&recorded, hello, mine, nonce); err != nil {
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
	other[0].SetKey(mine)
	other[1].SetKey(theirs)
	short := Config{Job: "j", Generation: 1, Addrs: otherAddrs, Timeout: 2 * time.Second, Log: zerolog.Nop()}
	if _, errs := buildRings(t, other, short); errs[0] == nil && errs[1] == nil {
		t.Error("ranks with different job keys built a ring")
	}

	// No key anywhere: as before.
	open, openAddrs := listenPlanes(t, 2)
	allReduceOnes(t, mustRings(t, open, Config{Job: "j", Generation: 1, Addrs: openAddrs, Timeout: 10 * time.Second, Log: zerolog.Nop()}))
}

// testKey is a 32-byte data-plane key, distinct for each name.
func testKey(name string) []byte {
	k := sha256.Sum256([]byte(name))
	return k[:]
}
