package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// joinSeeds joins the configured seeds, retrying with exponential backoff
// and jitter until cfg.JoinTimeout. It succeeds once another node is known
// (we reached a seed, or a peer reached us meanwhile), or at once when every
// seed address answered and was ourselves (the first node). Seeds that do
// not answer are retried: in a Kubernetes headless Service, peers appear in
// DNS only as they start.
func (m *Membership) joinSeeds(ctx context.Context) error {
	if len(m.cfg.Seeds) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.JoinTimeout)
	defer cancel()
	backoff := m.t.JoinBackoffMin
	var lastErr error
	for attempt := 1; ; attempt++ {
		// One attempt may sit in a TCP dial; do it aside so the deadline holds.
		res := make(chan joinAttempt, 1)
		go func() { res <- m.joinOnce(ctx) }()
		var a joinAttempt
		select {
		case a = <-res:
		case <-ctx.Done():
			return m.joinError(ctx, attempt, lastErr)
		}
		if err := m.nameConflict(); err != nil {
			return err
		}
		if m.othersKnown() {
			return nil
		}
		if a.allSelf {
			m.log.Info().Strs("seeds", m.cfg.Seeds).Msg("membership: every seed is this node; starting a new cluster")
			return nil
		}
		lastErr = a.err
		m.log.Debug().Err(a.err).Int("attempt", attempt).Float64("retry_in_s", backoff.Seconds()).Msg("membership: join failed; retrying")
		// Wait, but stop early when a peer reaches us meanwhile.
		timer := time.NewTimer(backoffJitter(backoff))
		for waiting := true; waiting; {
			select {
			case <-timer.C:
				waiting = false
			case <-m.changes():
				if m.othersKnown() {
					timer.Stop()
					return nil
				}
				if err := m.nameConflict(); err != nil {
					timer.Stop()
					return err
				}
			case <-ctx.Done():
				timer.Stop()
				return m.joinError(ctx, attempt, lastErr)
			}
		}
		backoff = min(2*backoff, m.t.JoinBackoffMax)
	}
}

// joinAttempt is the outcome of one pass over the seed addresses.
type joinAttempt struct {
	allSelf bool  // every address answered and none was another node
	err     error // why some address failed
}

// joinOnce tries every seed address once.
func (m *Membership) joinOnce(ctx context.Context) joinAttempt {
	addrs, err := m.seedAddrs(ctx)
	self := m.ml.LocalNode().Address()
	failed := err != nil
	for _, a := range addrs {
		if a == self {
			continue
		}
		if _, jerr := m.ml.Join([]string{a}); jerr != nil {
			failed = true
			err = flattenJoinError(jerr)
			continue
		}
	}
	return joinAttempt{allSelf: !failed && !m.othersKnown(), err: err}
}

// rejoinLoop periodically joins seed addresses that are not known members,
// so that clusters started apart (each node alone in DNS at first) merge.
func (m *Membership) rejoinLoop() {
	defer m.wg.Done()
	tick := time.NewTicker(m.t.PushPullInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		left := m.left
		m.mu.Unlock()
		if left {
			return // joining again would undo the leave
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.t.TCPTimeout)
		addrs, _ := m.seedAddrs(ctx)
		cancel()
		known := m.knownAddrs()
		for _, a := range addrs {
			if known[a] {
				continue
			}
			select {
			case <-m.done:
				return
			default:
			}
			if _, err := m.ml.Join([]string{a}); err == nil {
				m.log.Debug().Str("seed", a).Msg("membership: re-joined seed")
			}
		}
	}
}

// seedAddrs resolves the seeds to ip:port addresses; a name stands for all
// its addresses. It returns what it could resolve and the last failure.
func (m *Membership) seedAddrs(ctx context.Context) ([]string, error) {
	var out []string
	var lastErr error
	for _, s := range m.cfg.Seeds {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		host, port, err := splitHostPortDefault(s, DefaultGossipPort)
		if err != nil {
			lastErr = fmt.Errorf("seed %q: %w", s, err)
			continue
		}
		if net.ParseIP(host) != nil {
			out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
			continue
		}
		ips, err := lookupHost(ctx, host)
		if err != nil {
			lastErr = fmt.Errorf("seed %q: %w", s, err)
			continue
		}
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip.IP.String(), strconv.Itoa(port)))
		}
	}
	return out, lastErr
}

// othersKnown reports whether any other live node is known.
func (m *Membership) othersKnown() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.peers {
		if name != m.name {
			return true
		}
	}
	return false
}

// knownAddrs returns the addresses of live nodes, ourselves included.
func (m *Membership) knownAddrs() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(m.peers))
	for _, p := range m.peers {
		out[p.node.Address()] = true
	}
	return out
}

func (m *Membership) nameConflict() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conflict
}

// joinError explains a join that ran out of time.
func (m *Membership) joinError(ctx context.Context, attempts int, lastErr error) error {
	if err := m.nameConflict(); err != nil {
		return err
	}
	why := "no seed answered"
	if lastErr != nil {
		why = "last error: " + lastErr.Error()
	}
	hint := ""
	if lastErr != nil && (strings.Contains(lastErr.Error(), "crypt") || strings.Contains(lastErr.Error(), "keys") ||
		strings.Contains(lastErr.Error(), "message authentication")) {
		hint = fmt.Sprintf("; the seeds use another gossip key (or none): every member needs the same %s", EnvGossipKey)
	}
	within := ""
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		within = " within " + m.cfg.JoinTimeout.String()
	}
	return fmt.Errorf("membership: join %s as %s: gave up after %d attempts%s (%s)%s: %w",
		strings.Join(m.cfg.Seeds, ","), m.name, attempts, within, why, hint, ctx.Err())
}

// flattenJoinError turns memberlist's multi-error text ("1 error occurred:
// \n\t* failed to join a: why\n\n") into one line.
func flattenJoinError(err error) error {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if rest, ok := strings.CutPrefix(line, "\t* "); ok {
			parts = append(parts, rest)
		}
	}
	if len(parts) == 0 {
		return err
	}
	return errors.New(strings.Join(parts, "; "))
}

// backoffJitter returns a duration uniformly in [d/2, d).
func backoffJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}
