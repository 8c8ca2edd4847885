package launch

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// freePort returns a port free on TCP and on UDP (memberlist binds both) for
// a worker to bind a moment later, and again after a restart.
//
// It draws from below the kernel's ephemeral range, never from it: the
// kernel hands out ephemeral ports for every bind to port 0 and every
// outgoing connection of every process, so an ephemeral port picked here and
// released could be taken before the worker binds it (a sibling's data plane,
// another job's connection), and a restarted worker would find it taken
// again. Seen in tests running beside other tests: "bind: address already in
// use" twice, and the job failed. Below the range only an explicit bind to
// the same number can collide.
func freePort() (int, error) {
	lo, hi := pickRange(ephemeralRange())
	var lastErr error
	for range 64 {
		port := lo + rand.IntN(hi-lo)
		if err := portFree(port); err != nil {
			lastErr = err
			continue
		}
		return port, nil
	}
	return 0, fmt.Errorf("no free port in %d..%d: %w", lo, hi-1, lastErr)
}

// portFree reports whether port can be bound on TCP and UDP on every address.
func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	return u.Close()
}

// pickRange returns [lo, hi): up to 16384 ports just below the ephemeral
// range [eLo, eHi], or above it when it starts too low to leave room.
func pickRange(eLo, eHi int) (lo, hi int) {
	if lo := max(eLo-16384, 1024); eLo-lo >= 1024 {
		return lo, eLo
	}
	if 65535-eHi >= 1024 {
		return eHi + 1, min(eHi+1+16384, 65536)
	}
	return 1024, 65536 // the ephemeral range is everything: nothing better to do
}

// ephemeralRange returns Linux's ephemeral port range, or 32768..60999 (its
// default; other systems use 49152..65535, above it) when it cannot be read.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && 0 < lo && lo <= hi && hi <= 65535 {
				return lo, hi
			}
		}
	}
	return 32768, 60999
}
