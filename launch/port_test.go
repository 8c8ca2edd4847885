package launch

import (
	"fmt"
	"net"
	"testing"
)

func TestPickRangeAvoidsEphemeralPorts(t *testing.T) {
	for _, c := range []struct{ eLo, eHi, lo, hi int }{
		{32768, 60999, 16384, 32768}, // Linux's default
		{10000, 20000, 1024, 10000},  // little room below: what there is
		{1500, 60000, 60001, 65536},  // no room below: above
		{1024, 65535, 1024, 65536},   // everything is ephemeral
	} {
		lo, hi := pickRange(c.eLo, c.eHi)
		if lo != c.lo || hi != c.hi {
			t.Errorf("ephemeral %d..%d: picked from [%d, %d), want [%d, %d)", c.eLo, c.eHi, lo, hi, c.lo, c.hi)
		}
	}
}

// TestFreePortIsBindableAndNotEphemeral: the port is outside this machine's
// ephemeral range (so no bind to :0 or outgoing connection can take it) and
// binds on TCP and UDP.
func TestFreePortIsBindableAndNotEphemeral(t *testing.T) {
	eLo, eHi := ephemeralRange()
	for range 20 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if eLo < eHi && eLo-16384 >= 1024 && port >= eLo && port <= eHi {
			t.Fatalf("port %d is in the ephemeral range %d..%d", port, eLo, eHi)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d (udp): %v", port, err)
		}
		l.Close()
		u.Close()
	}
}
