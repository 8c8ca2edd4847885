package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
)

// busWait bounds every wait for a message in these tests; generous because
// the machine is shared with other test runs.
const busWait = 10 * time.Second

func startTestServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	cfg.Log = zerolog.Nop()
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connectTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	b, err := tryConnectTestClient(cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func tryConnectTestClient(cfg Config) (*Client, error) {
	cfg.Log = zerolog.Nop()
	if cfg.Job == "" {
		cfg.Job = "testjob"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Connect(ctx, cfg)
}

// collector gathers values delivered by bus handlers.
type collector[T any] struct {
	mu   sync.Mutex
	got  []T
	ch   chan struct{}
	next int // first value waitEvent has not looked at
}

func newCollector[T any]() *collector[T] { return &collector[T]{ch: make(chan struct{}, 1024)} }

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

// wait returns once n values arrived, failing the test after busWait.
func (c *collector[T]) wait(t *testing.T, n int) []T {
	t.Helper()
	deadline := time.After(busWait)
	for {
		c.mu.Lock()
		if len(c.got) >= n {
			out := append([]T(nil), c.got...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", c.count(), n)
		}
	}
}

func (c *collector[T]) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// waitEvent waits for the next event, after those already looked at, that
// matches pred.
func waitEvent(t *testing.T, c *collector[Event], pred func(Event) bool) Event {
	t.Helper()
	for {
		c.next++
		if e := c.wait(t, c.next)[c.next-1]; pred(e) {
			return e
		}
	}
}

func TestBusServerTokenRefusesClientWithout(t *testing.T) {
	s := startTestServer(t, ServerConfig{Token: "correct-horse-battery"})
	if u := s.ClientURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") {
		t.Errorf("ClientURL %q: want loopback by default", u)
	}
	for _, tok := range []string{"", "wrong-token"} {
		start := time.Now()
		_, err := tryConnectTestClient(Config{URL: s.ClientURL(), Token: tok, Rank: -1})
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("token %q: err = %v, want ErrAuth", tok, err)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("error %q does not say what failed", err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("refusal took %s; auth errors must not be retried", d)
		}
	}
	b := connectTestClient(t, Config{URL: s.ClientURL(), Token: "correct-horse-battery", Rank: -1})
	if b.ConnectedURL() == "" {
		t.Error("not connected")
	}
}

func TestBusUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Connect(ctx, Config{URL: url, Job: "j", Log: zerolog.Nop()})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), url) {
		t.Fatalf("err = %v, want ErrUnreachable naming %s", err, url)
	}
	t.Log(err)
}

func TestBusServerPortInUse(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	start := time.Now()
	_, err := StartServer(ServerConfig{Port: s.Port(), Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("err = %v, want address in use", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to report a port in use", d)
	}
}

func TestBusBadJobName(t *testing.T) {
	for _, job := range []string{"", "a.b", "a*", "a b", "x>"} {
		if err := ValidateJobName(job); err == nil {
			t.Errorf("job %q accepted", job)
		}
	}
	if err := ValidateJobName("run-7_b"); err != nil {
		t.Error(err)
	}
}

func TestBusMetricsEventsRoundTrip(t *testing.T) {
	s := startTestServer(t, ServerConfig{Token: "tok-tok-tok"})
	cfg := Config{URL: s.ClientURL(), Token: "tok-tok-tok"}
	watcher := connectTestClient(t, withRank(cfg, -1))
	metrics, events := newCollector[StepMetrics](), newCollector[Event]()
	if err := watcher.SubscribeMetrics(metrics.add); err != nil {
		t.Fatal(err)
	}
	if err := watcher.SubscribeEvents(events.add); err != nil {
		t.Fatal(err)
	}
	r0, r1 := connectTestClient(t, withRank(cfg, 0)), connectTestClient(t, withRank(cfg, 1))
	arrival := time.Now().UnixNano()
	r0.PublishMetrics(StepMetrics{Rank: 0, World: 2, Generation: 3, Step: 7, StepMs: 12.5,
		DataWaitMs: 1, ComputeMs: 10, CollectiveWaitMs: 1.5, ArrivalUnixNano: arrival, Loss: 0.25})
	r1.PublishMetrics(StepMetrics{Rank: 1, World: 2, Generation: 3, Step: 7, StepMs: 13})
	r0.PublishEvent(Event{Kind: EventJoin, Rank: 0, Generation: 3, World: 2,
		Detail: map[string]string{"host": "a"}})

	got := metrics.wait(t, 2)
	byRank := map[int]StepMetrics{}
	for _, m := range got {
		byRank[m.Rank] = m
	}
	m0 := byRank[0]
	if m0.Job != "testjob" || m0.Step != 7 || m0.StepMs != 12.5 || m0.CollectiveWaitMs != 1.5 ||
		m0.ArrivalUnixNano != arrival || m0.Loss != 0.25 || m0.Time.IsZero() || m0.Generation != 3 {
		t.Errorf("rank 0 metrics = %+v", m0)
	}
	if byRank[1].StepMs != 13 {
		t.Errorf("rank 1 metrics = %+v", byRank[1])
	}
	e := events.wait(t, 1)[0]
	if e.Kind != EventJoin || e.World != 2 || e.Detail["host"] != "a" || e.Job != "testjob" {
		t.Errorf("event = %+v", e)
	}
	if st := r0.Stats(); st.Published != 2 || st.Dropped != 0 {
		t.Errorf("rank 0 stats = %+v", st)
	}
}

func withRank(c Config, rank int) Config {
	c.Rank = rank
	return c
}

// commandFixture is a job of two ranks obeying commands, and an operator
// watching the events.
type commandFixture struct {
	url      string
	secret   []byte
	obeyed   [2]*collector[Command]
	events   *collector[Event]
	operator *Client // holds the secret
	ranks    [2]*Client
}

func newCommandFixture(t *testing.T) *commandFixture {
	t.Helper()
	s := startTestServer(t, ServerConfig{})
	f := &commandFixture{url: s.ClientURL(), secret: []byte("0123456789abcdef-job-secret"), events: newCollector[Event]()}
	for r := range f.ranks {
		f.ranks[r] = connectTestClient(t, Config{URL: f.url, Rank: r, ControlSecret: f.secret})
		f.obeyed[r] = newCollector[Command]()
		if err := f.ranks[r].OnCommand(f.obeyed[r].add); err != nil {
			t.Fatal(err)
		}
	}
	f.operator = connectTestClient(t, Config{URL: f.url, Rank: -1, ControlSecret: f.secret, Name: "operator"})
	if err := f.operator.SubscribeEvents(f.events.add); err != nil {
		t.Fatal(err)
	}
	return f
}

func isKind(kind string) func(Event) bool { return func(e Event) bool { return e.Kind == kind } }

func TestBusSignedCommandDeliveredOnce(t *testing.T) {
	f := newCommandFixture(t)
	sent, err := f.operator.SendCommand(CommandCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	for r := range f.ranks {
		c := f.obeyed[r].wait(t, 1)[0]
		if c.Kind != CommandCheckpoint || c.Nonce != sent.Nonce || c.From != "operator" {
			t.Errorf("rank %d obeyed %+v", r, c)
		}
	}
	ack := waitEvent(t, f.events, isKind(EventCommandAccepted))
	if ack.Detail["nonce"] != sent.Nonce || ack.Rank != 0 {
		t.Errorf("ack = %+v", ack)
	}
	time.Sleep(200 * time.Millisecond)
	for r := range f.ranks {
		if n := f.obeyed[r].count(); n != 1 {
			t.Errorf("rank %d obeyed %d times", r, n)
		}
		if st := f.ranks[r].Stats(); st.CommandsAccepted != 1 || st.CommandsRefused != 0 {
			t.Errorf("rank %d stats %+v", r, st)
		}
	}
	if _, err := f.operator.SendCommand("reboot"); err == nil {
		t.Error("unknown command kind sent")
	}
}

func TestBusUnauthenticatedCommandRefused(t *testing.T) {
	f := newCommandFixture(t)

	// No secret: SendCommand will not send unsigned commands...
	stranger := connectTestClient(t, Config{URL: f.url, Rank: -1, Name: "stranger"})
	if _, err := stranger.SendCommand(CommandStop); err == nil {
		t.Fatal("SendCommand without a secret succeeded")
	}
	// ...and one published by hand is refused.
	unsigned := Command{Job: "testjob", Kind: CommandStop, Issued: time.Now(), Nonce: "n1", From: "stranger"}
	if err := stranger.publishRaw(CommandSubject("testjob"), unsigned); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, f.events, isKind(EventCommandRefused))
	if !strings.Contains(e.Reason, "unauthenticated command refused") || !strings.Contains(e.Reason, "no MAC") ||
		e.Detail["from"] != "stranger" || e.Detail["command"] != CommandStop {
		t.Errorf("refusal event = %+v", e)
	}

	// A different secret.
	impostor := connectTestClient(t, Config{URL: f.url, Rank: -1, Name: "impostor",
		ControlSecret: []byte("not-the-job-secret-at-all")})
	if _, err := impostor.SendCommand(CommandStop); err != nil {
		t.Fatal(err)
	}
	e = waitEvent(t, f.events, isKind(EventCommandRefused))
	if !strings.Contains(e.Reason, "bad MAC") || e.Detail["from"] != "impostor" {
		t.Errorf("refusal event = %+v", e)
	}

	// A valid command with a field changed after signing.
	tampered := Command{Job: "testjob", Kind: CommandCheckpoint, Issued: time.Now(), Nonce: "n2", From: "op"}
	signCommand(f.secret, &tampered)
	tampered.Kind = CommandStop
	if err := stranger.publishRaw(CommandSubject("testjob"), tampered); err != nil {
		t.Fatal(err)
	}
	e = waitEvent(t, f.events, isKind(EventCommandRefused))
	if !strings.Contains(e.Reason, "bad MAC") {
		t.Errorf("refusal event = %+v", e)
	}

	// Not even JSON.
	if err := stranger.conn().Publish(CommandSubject("testjob"), []byte("stop!")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, f.events, isKind(EventCommandRefused))

	time.Sleep(200 * time.Millisecond)
	for r := range f.ranks {
		if n := f.obeyed[r].count(); n != 0 {
			t.Errorf("rank %d obeyed %d unauthenticated commands", r, n)
		}
		if st := f.ranks[r].Stats(); st.CommandsRefused != 4 {
			t.Errorf("rank %d refused %d commands, want 4", r, st.CommandsRefused)
		}
	}
	// Only rank 0 reports refusals, so there are exactly four events.
	if n := f.events.count(); n != 4 {
		t.Errorf("%d events, want 4 refusals", n)
	}
}

func TestBusReplayedAndStaleCommandsRefused(t *testing.T) {
	f := newCommandFixture(t)
	// An eavesdropper records a signed command off the bus.
	spy := connectTestClient(t, Config{URL: f.url, Rank: -1})
	recorded := newCollector[Command]()
	if err := spy.subscribe(CommandSubject("testjob"), func(m *nats.Msg) {
		var c Command
		if spy.decode(m, &c) {
			recorded.add(c)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.operator.SendCommand(CommandStop); err != nil {
		t.Fatal(err)
	}
	f.obeyed[0].wait(t, 1)
	waitEvent(t, f.events, isKind(EventCommandAccepted))

	if err := spy.publishRaw(CommandSubject("testjob"), recorded.wait(t, 1)[0]); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, f.events, isKind(EventCommandRefused))
	if !strings.Contains(e.Reason, "replay") {
		t.Errorf("refusal event = %+v", e)
	}

	old := Command{Job: "testjob", Kind: CommandCheckpoint, Issued: time.Now().Add(-2 * CommandMaxAge),
		Nonce: "fresh-nonce", From: "op"}
	signCommand(f.secret, &old)
	if err := spy.publishRaw(CommandSubject("testjob"), old); err != nil {
		t.Fatal(err)
	}
	e = waitEvent(t, f.events, isKind(EventCommandRefused))
	if !strings.Contains(e.Reason, "stale") {
		t.Errorf("refusal event = %+v", e)
	}
	if n := f.obeyed[0].count(); n != 1 {
		t.Errorf("rank 0 obeyed %d commands, want 1", n)
	}
}

func TestCommandVerifier(t *testing.T) {
	secret := []byte("the-job-secret-0123456789")
	now := time.Now()
	sign := func(c Command) Command { signCommand(secret, &c); return c }
	base := Command{Job: "j", Kind: CommandCheckpoint, Issued: now, Nonce: "a", From: "op"}
	cases := []struct {
		name string
		cmd  Command
		v    *commandVerifier
		want string // "" = accepted
	}{
		{"ok", sign(base), nil, ""},
		{"no secret here", sign(base), newCommandVerifier("j", nil), "no control secret"},
		{"no mac", base, nil, "no MAC"},
		{"wrong job", sign(Command{Job: "k", Kind: CommandStop, Issued: now, Nonce: "b"}), nil, "job"},
		{"unknown kind", sign(Command{Job: "j", Kind: "rm", Issued: now, Nonce: "c"}), nil, "unknown command"},
		{"stale", sign(Command{Job: "j", Kind: CommandStop, Issued: now.Add(-61 * time.Second), Nonce: "d"}), nil, "stale"},
		{"future", sign(Command{Job: "j", Kind: CommandStop, Issued: now.Add(61 * time.Second), Nonce: "e"}), nil, "future"},
		{"no nonce", sign(Command{Job: "j", Kind: CommandStop, Issued: now}), nil, "nonce"},
	}
	for _, tc := range cases {
		v := tc.v
		if v == nil {
			v = newCommandVerifier("j", secret)
		}
		err := v.verify(tc.cmd, now)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrCommandRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want refusal mentioning %q", tc.name, err, tc.want)
		}
	}

	// Replays are refused while fresh; old nonces are forgotten.
	v := newCommandVerifier("j", secret)
	c := sign(base)
	if err := v.verify(c, now); err != nil {
		t.Fatal(err)
	}
	if err := v.verify(c, now.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Errorf("replay: %v", err)
	}
	other := sign(Command{Job: "j", Kind: CommandStop, Issued: now.Add(3 * CommandMaxAge), Nonce: "z"})
	if err := v.verify(other, now.Add(3*CommandMaxAge)); err != nil {
		t.Fatal(err)
	}
	if len(v.seen) != 1 {
		t.Errorf("verifier remembers %d nonces, want 1", len(v.seen))
	}
}

func TestBusNKeyRoundTrip(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startTestServer(t, ServerConfig{NKeyPublic: []string{pub}})

	if _, err := tryConnectTestClient(Config{URL: s.ClientURL()}); !errors.Is(err, ErrAuth) {
		t.Fatalf("without nkey: err = %v, want ErrAuth", err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	if err := os.WriteFile(otherFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tryConnectTestClient(Config{URL: s.ClientURL(), NKeySeedFile: otherFile}); !errors.Is(err, ErrAuth) {
		t.Fatalf("unknown nkey: err = %v, want ErrAuth", err)
	}

	sub := connectTestClient(t, Config{URL: s.ClientURL(), NKeySeedFile: seedFile, Rank: -1})
	events := newCollector[Event]()
	if err := sub.SubscribeEvents(events.add); err != nil {
		t.Fatal(err)
	}
	pubBus := connectTestClient(t, Config{URL: s.ClientURL(), NKeySeedFile: seedFile})
	pubBus.PublishEvent(Event{Kind: EventStart})
	if e := events.wait(t, 1)[0]; e.Kind != EventStart {
		t.Errorf("event %+v", e)
	}

	if _, err := StartServer(ServerConfig{NKeyPublic: []string{"not-a-key"}, Log: zerolog.Nop()}); err == nil {
		t.Error("server accepted an invalid nkey")
	}
}

// writeTestCerts writes a CA and, signed by it, a server certificate for
// 127.0.0.1 and a client certificate. It returns their file paths.
func writeTestCerts(t *testing.T) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "EC PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fdsm test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, k *ecdsa.PrivateKey) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sk, ck := newKey(), newKey()
	ca = write("ca.pem", "CERTIFICATE", caDER)
	serverCert = write("server.pem", "CERTIFICATE", leaf(2, "server", x509.ExtKeyUsageServerAuth, sk))
	serverKey = writeKey("server-key.pem", sk)
	clientCert = write("client.pem", "CERTIFICATE", leaf(3, "client", x509.ExtKeyUsageClientAuth, ck))
	clientKey = writeKey("client-key.pem", ck)
	return
}

func TestBusTLSRoundTrip(t *testing.T) {
	ca, sc, sk, cc, ck := writeTestCerts(t)
	s := startTestServer(t, ServerConfig{Token: "tls-token-123",
		TLS: &TLS{CertFile: sc, KeyFile: sk, CAFile: ca, VerifyClients: true}})
	if !strings.HasPrefix(s.ClientURL(), "tls://") {
		t.Errorf("ClientURL %q: want tls://", s.ClientURL())
	}
	// Without our CA the server's certificate is not trusted.
	_, err := tryConnectTestClient(Config{URL: s.ClientURL(), Token: "tls-token-123",
		TLS: &TLS{CertFile: cc, KeyFile: ck}})
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("untrusted server: err = %v", err)
	}
	t.Log(err)
	// Without a client certificate the server refuses us.
	if _, err := tryConnectTestClient(Config{URL: s.ClientURL(), Token: "tls-token-123",
		TLS: &TLS{CAFile: ca}}); err == nil {
		t.Fatal("client without a certificate accepted")
	}

	cfg := Config{URL: s.ClientURL(), Token: "tls-token-123", TLS: &TLS{CAFile: ca, CertFile: cc, KeyFile: ck}}
	sub := connectTestClient(t, withRank(cfg, -1))
	metrics := newCollector[StepMetrics]()
	if err := sub.SubscribeMetrics(metrics.add); err != nil {
		t.Fatal(err)
	}
	pub := connectTestClient(t, withRank(cfg, 0))
	pub.PublishMetrics(StepMetrics{Rank: 0, Step: 1, StepMs: 3})
	if m := metrics.wait(t, 1)[0]; m.StepMs != 3 {
		t.Errorf("metrics %+v", m)
	}
}

func TestBusPublishNeverBlocks(t *testing.T) {
	s := startTestServer(t, ServerConfig{})
	b := connectTestClient(t, Config{URL: s.ClientURL()})
	s.Shutdown()
	start := time.Now()
	for i := range 3 * queueLen {
		b.PublishMetrics(StepMetrics{Rank: 0, Step: i, StepMs: 1})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publishing to a dead server took %s", d)
	}
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case <-done:
	case <-time.After(busWait):
		t.Fatal("Close hung with the server gone")
	}
	b.PublishEvent(Event{Kind: EventStop}) // after Close: dropped, no panic
	st := b.Stats()
	if st.Published+st.Dropped+st.PublishErrors != uint64(3*queueLen+1) {
		t.Errorf("stats %+v do not account for %d messages", st, 3*queueLen+1)
	}
}

func TestBusReconnectMovesSubscriptions(t *testing.T) {
	a := startTestServer(t, ServerConfig{})
	bsrv := startTestServer(t, ServerConfig{})
	watcher := connectTestClient(t, Config{URL: a.ClientURL(), Rank: -1})
	events := newCollector[Event]()
	if err := watcher.SubscribeEvents(events.add); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := watcher.Reconnect(ctx, bsrv.ClientURL()); err != nil {
		t.Fatal(err)
	}
	if got := watcher.ConnectedURL(); got != bsrv.ClientURL() {
		t.Errorf("connected to %s, want %s", got, bsrv.ClientURL())
	}
	pub := connectTestClient(t, Config{URL: bsrv.ClientURL()})
	pub.PublishEvent(Event{Kind: EventRegroup, Generation: 2})
	if e := events.wait(t, 1)[0]; e.Kind != EventRegroup {
		t.Errorf("event %+v", e)
	}
}

func TestLoadOrCreateControlSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	var wg sync.WaitGroup
	secrets := make([][]byte, 8)
	errs := make([]error, 8)
	for i := range secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secrets[i], _, errs[i] = LoadOrCreateControlSecret(dir)
		}()
	}
	wg.Wait()
	for i := range secrets {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if string(secrets[i]) != string(secrets[0]) {
			t.Fatalf("racing creators got different secrets")
		}
	}
	if len(secrets[0]) != 64 {
		t.Errorf("secret %q: want 64 hex digits", secrets[0])
	}
	path := filepath.Join(dir, ControlSecretFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	again, p, err := LoadOrCreateControlSecret(dir)
	if err != nil || p != path || string(again) != string(secrets[0]) {
		t.Errorf("second call: %q %s %v", again, p, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}

	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := LoadControlSecret(short); err == nil {
		t.Error("short secret accepted")
	}
	t.Setenv(EnvControlSecret, " from-the-environment-123 \n")
	if s, err := ControlSecretFromEnv(); err != nil || string(s) != "from-the-environment-123" {
		t.Errorf("env secret %q %v", s, err)
	}
	t.Setenv(EnvControlSecret, "")
	if s, err := ControlSecretFromEnv(); err != nil || s != nil {
		t.Errorf("empty env: %q %v", s, err)
	}
}

func TestStepMetricsJSONNonFinite(t *testing.T) {
	in := StepMetrics{Job: "j", Rank: 3, Step: 9, StepMs: 1.5, Loss: math.NaN(), SamplesPerSec: math.Inf(1)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out StepMetrics
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if !math.IsNaN(out.Loss) || !math.IsInf(out.SamplesPerSec, 1) || out.Rank != 3 || out.Step != 9 || out.StepMs != 1.5 {
		t.Errorf("%s decoded to %+v", b, out)
	}
	b, _ = json.Marshal(StepMetrics{Loss: 0.25})
	if !strings.Contains(string(b), `"loss":0.25`) || strings.Contains(string(b), "samples_per_sec") {
		t.Errorf("finite encoding %s", b)
	}
}
