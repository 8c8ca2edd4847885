package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Errors wrapped by Connect; test with errors.Is.
var (
	// ErrUnreachable: no NATS server answered at the URL.
	ErrUnreachable = errors.New("no NATS server reachable")
	// ErrAuth: the server refused the client's credentials.
	ErrAuth = errors.New("server refused the credentials")
)

// DefaultConnectTimeout bounds Connect when the context has no
// earlier deadline.
const DefaultConnectTimeout = 10 * time.Second

// queueLen is how many outgoing messages wait for the publisher
// goroutine before new ones are dropped (and counted).
const queueLen = 4096

// Config configures a control bus client (Connect).
type Config struct {
	URL  string // nats:// or tls:// URL; several may be comma-separated
	Job  string
	Rank int // this process's rank; -1 for tools (watch, ctl)
	// Server authentication: a token and/or a file holding a user nkey seed.
	Token        string
	NKeySeedFile string
	// TLS: CAFile verifies the server; CertFile and KeyFile present a
	// client certificate.
	TLS *TLS
	// ControlSecret signs (SendCommand) and verifies (OnCommand) commands.
	ControlSecret []byte
	// Name identifies the connection on the server and in commands' From.
	Name string
	Log  zerolog.Logger
}

// Stats counts what a Client did; see (*Client).Stats.
type Stats struct {
	Published        uint64 // messages handed to NATS
	Dropped          uint64 // messages dropped: queue full or bus closed
	PublishErrors    uint64 // messages NATS refused (e.g. reconnect buffer full)
	BadMessages      uint64 // received messages that did not decode
	CommandsAccepted uint64
	CommandsRefused  uint64
}

// Client is a client of a job's control bus.
//
// Threading: all methods are safe for concurrent use. Publishing never
// blocks the caller: messages are queued for one publisher goroutine (which
// keeps their order) and dropped, counted and logged when the queue is full
// or NATS refuses them; no publish error is fatal. Handlers given to the
// Subscribe and OnCommand methods run on NATS goroutines, one message at a
// time per subscription, and must return promptly.
//
// The client reconnects by itself when its server restarts at the same
// URL; when the server moves (rank 0 changed), call Reconnect.
type Client struct {
	cfg      Config
	log      zerolog.Logger
	verifier *commandVerifier
	rank     atomic.Int64

	mu     sync.Mutex
	nc     *nats.Conn
	subs   []*subscription
	closed bool

	out  chan message
	done chan struct{}
	wg   sync.WaitGroup

	published, dropped, pubErrors, badMsgs, accepted, refused atomic.Uint64
	errLog                                                    logLimiter
}

type message struct {
	subject string
	data    []byte
}

// subscription is a subscription kept across Reconnect.
type subscription struct {
	subject string
	handler nats.MsgHandler
	sub     *nats.Subscription
}

// Connect connects to the control bus at cfg.URL, retrying while no
// server answers until ctx ends or DefaultConnectTimeout passes. Refused
// credentials and TLS failures return at once. Errors wrap ErrUnreachable
// or ErrAuth where they apply.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if err := ValidateJobName(cfg.Job); err != nil {
		return nil, fmt.Errorf("control bus: %w", err)
	}
	if cfg.URL == "" {
		return nil, errors.New("control bus: empty URL")
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("fdsm/%s/rank%d@%s", cfg.Job, cfg.Rank, host)
	}
	b := &Client{
		cfg:      cfg,
		log:      cfg.Log.With().Str("component", "bus").Str("job", cfg.Job).Logger(),
		verifier: newCommandVerifier(cfg.Job, cfg.ControlSecret),
		out:      make(chan message, queueLen),
		done:     make(chan struct{}),
	}
	b.rank.Store(int64(cfg.Rank))
	nc, err := b.dial(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	b.nc = nc
	b.wg.Add(1)
	go b.publishLoop()
	return b, nil
}

// dial connects to url with the configured credentials, retrying while no
// server answers.
func (b *Client) dial(ctx context.Context, url string) (*nats.Conn, error) {
	opts, err := b.natsOptions()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		attempt := 2 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			attempt = min(attempt, max(time.Until(dl), 10*time.Millisecond))
		}
		nc, err := nats.Connect(url, append(opts, nats.Timeout(attempt))...)
		if err == nil {
			return nc, nil
		}
		err = classifyConnectError(url, err)
		if !errors.Is(err, ErrUnreachable) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func classifyConnectError(url string, err error) error {
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked):
		return fmt.Errorf("control bus at %s: %w (check the token, nkey seed or client certificate): %v",
			url, ErrAuth, err)
	case errors.Is(err, nats.ErrTLS), errors.Is(err, nats.ErrSecureConnRequired),
		errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("control bus at %s: TLS failed (check the CA, client certificate and URL scheme): %w", url, err)
	case errors.Is(err, nats.ErrNoServers):
		return fmt.Errorf("control bus: %w at %s", ErrUnreachable, url)
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("control bus: %w at %s (timed out): %v", ErrUnreachable, url, err)
	}
	return fmt.Errorf("control bus at %s: %w", url, err)
}

func (b *Client) natsOptions() ([]nats.Option, error) {
	cfg := b.cfg
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectBufSize(4 << 20),
		// A stuck socket write must not hold the publisher for a minute.
		nats.FlusherTimeout(5 * time.Second),
		nats.PingInterval(10 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn().Err(err).Msg("control bus disconnected; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("control bus reconnected")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
				b.errLog.do(func(n int) {
					b.log.Warn().Str("subject", sub.Subject).Int("times", n).
						Msg("control bus handler too slow; messages dropped")
				})
				return
			}
			b.log.Warn().Err(err).Msg("control bus error")
		}),
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("control bus nkey seed %s: %w", cfg.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if t := cfg.TLS; t != nil {
		if t.CAFile != "" {
			opts = append(opts, nats.RootCAs(t.CAFile))
		}
		if t.CertFile != "" || t.KeyFile != "" {
			if t.CertFile == "" || t.KeyFile == "" {
				return nil, errors.New("control bus TLS: a client certificate needs both a cert and a key file")
			}
			opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
		}
		opts = append(opts, nats.Secure())
	}
	return opts, nil
}

// Job returns the job this bus serves.
func (b *Client) Job() string { return b.cfg.Job }

// ConnectedURL returns the server URL the bus is connected to (without
// credentials), or "" while disconnected.
func (b *Client) ConnectedURL() string {
	return b.conn().ConnectedUrlRedacted()
}

// SetRank changes the rank this process reports after a regroup. Rank 0
// acknowledges commands with events.
func (b *Client) SetRank(rank int) { b.rank.Store(int64(rank)) }

// Stats returns the bus counters.
func (b *Client) Stats() Stats {
	return Stats{
		Published:        b.published.Load(),
		Dropped:          b.dropped.Load(),
		PublishErrors:    b.pubErrors.Load(),
		BadMessages:      b.badMsgs.Load(),
		CommandsAccepted: b.accepted.Load(),
		CommandsRefused:  b.refused.Load(),
	}
}

func (b *Client) conn() *nats.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nc
}

// Reconnect moves the bus to the server at url (after rank 0 changed),
// carrying its subscriptions over. On error the bus stays on its old
// connection.
func (b *Client) Reconnect(ctx context.Context, url string) error {
	nc, err := b.dial(ctx, url)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		nc.Close()
		return errors.New("control bus: closed")
	}
	old := b.nc
	var subErr error
	newSubs := make([]*nats.Subscription, len(b.subs))
	for i, s := range b.subs {
		if newSubs[i], subErr = nc.Subscribe(s.subject, s.handler); subErr != nil {
			break
		}
	}
	if subErr == nil {
		subErr = nc.FlushTimeout(5 * time.Second)
	}
	if subErr != nil {
		b.mu.Unlock()
		nc.Close()
		return fmt.Errorf("control bus: resubscribe on %s: %w", url, subErr)
	}
	for i, s := range b.subs {
		s.sub = newSubs[i]
	}
	b.nc = nc
	b.mu.Unlock()
	old.Close()
	b.log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("control bus moved")
	return nil
}

// Close flushes queued messages (for at most a few seconds) and closes the
// connection. It is idempotent; publishing afterwards drops messages.
func (b *Client) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
	nc := b.conn()
	var err error
	if nc.IsConnected() { // no point waiting for a server that is gone
		err = nc.FlushTimeout(2 * time.Second)
	}
	nc.Close()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("control bus: flush on close: %w", err)
	}
	return nil
}

// PublishMetrics queues one rank's step metrics. It never blocks.
func (b *Client) PublishMetrics(m StepMetrics) {
	if m.Job == "" {
		m.Job = b.cfg.Job
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	b.enqueue(MetricsSubject(b.cfg.Job, m.Rank), m)
}

// PublishEvent queues an event. It never blocks.
func (b *Client) PublishEvent(e Event) {
	if e.Job == "" {
		e.Job = b.cfg.Job
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.enqueue(EventsSubject(b.cfg.Job), e)
}

func (b *Client) enqueue(subject string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only NaN or Inf in a float field gets here.
		b.dropped.Add(1)
		b.errLog.do(func(n int) {
			b.log.Warn().Err(err).Str("subject", subject).Int("times", n).Msg("control bus message not encodable; dropped")
		})
		return
	}
	select {
	case <-b.done:
		b.dropped.Add(1)
		return
	default:
	}
	select {
	case b.out <- message{subject, data}:
	default:
		b.dropped.Add(1)
		b.errLog.do(func(n int) {
			b.log.Warn().Int("times", n).Msg("control bus publish queue full; messages dropped")
		})
	}
}

// publishLoop hands queued messages to NATS in order. On Close it sends
// what is already queued and returns.
func (b *Client) publishLoop() {
	defer b.wg.Done()
	for {
		select {
		case m := <-b.out:
			b.publish(m)
		case <-b.done:
			for {
				select {
				case m := <-b.out:
					b.publish(m)
				default:
					return
				}
			}
		}
	}
}

func (b *Client) publish(m message) {
	if err := b.conn().Publish(m.subject, m.data); err != nil {
		b.pubErrors.Add(1)
		b.errLog.do(func(n int) {
			b.log.Warn().Err(err).Str("subject", m.subject).Int("times", n).Msg("control bus publish failed")
		})
		return
	}
	b.published.Add(1)
}

// subscribe registers handler for subject and waits until the server has
// the subscription, so that messages published after it returns arrive.
func (b *Client) subscribe(subject string, handler nats.MsgHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("control bus: closed")
	}
	sub, err := b.nc.Subscribe(subject, handler)
	if err != nil {
		return fmt.Errorf("control bus: subscribe %s: %w", subject, err)
	}
	if err := b.nc.FlushTimeout(5 * time.Second); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("control bus: subscribe %s: %w", subject, err)
	}
	b.subs = append(b.subs, &subscription{subject: subject, handler: handler, sub: sub})
	return nil
}

// decode unmarshals a received message, counting and logging bad ones.
func (b *Client) decode(msg *nats.Msg, v any) bool {
	if err := json.Unmarshal(msg.Data, v); err != nil {
		b.badMsgs.Add(1)
		b.log.Debug().Err(err).Str("subject", msg.Subject).Msg("control bus message ignored")
		return false
	}
	return true
}

// SubscribeMetrics calls fn with every rank's step metrics of the job.
func (b *Client) SubscribeMetrics(fn func(StepMetrics)) error {
	return b.subscribe(AllMetricsSubject(b.cfg.Job), func(msg *nats.Msg) {
		var m StepMetrics
		if b.decode(msg, &m) {
			fn(m)
		}
	})
}

// SubscribeEvents calls fn with every event of the job.
func (b *Client) SubscribeEvents(fn func(Event)) error {
	return b.subscribe(EventsSubject(b.cfg.Job), func(msg *nats.Msg) {
		var e Event
		if b.decode(msg, &e) {
			fn(e)
		}
	})
}

// OnCommand calls fn with every command that verifies against the control
// secret: authentic (MAC), fresh (within CommandMaxAge) and not a replay.
// Other commands are refused: logged, counted and, by rank 0, published as
// a command_refused event; rank 0 also publishes command_accepted for each
// command it delivers, which `fdsm ctl` waits for.
//
// Ranks receive a command at slightly different times; a trainer that must
// act on the same step everywhere should agree through a collective (rank 0
// broadcasts its decision).
func (b *Client) OnCommand(fn func(Command)) error {
	return b.subscribe(CommandSubject(b.cfg.Job), func(msg *nats.Msg) {
		var c Command
		if !b.decode(msg, &c) {
			c = Command{Kind: "(undecodable)"}
		}
		if err := b.verifyDecoded(c, msg); err != nil {
			b.refuse(c, err)
			return
		}
		b.accepted.Add(1)
		b.log.Info().Str("command", c.Kind).Str("from", c.From).Str("nonce", c.Nonce).Msg("command accepted")
		if b.rank.Load() == 0 {
			b.PublishEvent(Event{Kind: EventCommandAccepted, Rank: 0, Reason: c.Kind,
				Detail: map[string]string{"command": c.Kind, "nonce": c.Nonce, "from": c.From}})
		}
		fn(c)
	})
}

func (b *Client) verifyDecoded(c Command, msg *nats.Msg) error {
	if c.Kind == "(undecodable)" {
		return fmt.Errorf("%w: not a command (%d bytes)", ErrCommandRefused, len(msg.Data))
	}
	return b.verifier.verify(c, time.Now())
}

func (b *Client) refuse(c Command, err error) {
	b.refused.Add(1)
	b.log.Warn().Err(err).Str("command", c.Kind).Str("from", c.From).Str("nonce", c.Nonce).
		Msg("command refused")
	if b.rank.Load() == 0 {
		// The fields come from whoever sent the command: keep them short.
		b.PublishEvent(Event{Kind: EventCommandRefused, Rank: 0, Reason: err.Error(),
			Detail: map[string]string{"command": clip(c.Kind), "nonce": clip(c.Nonce), "from": clip(c.From)}})
	}
}

// clip shortens s to at most 100 bytes.
func clip(s string) string {
	const n = 100
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// SendCommand signs a command of the given kind with the control secret,
// publishes it and waits until the server has it. It returns the command
// sent, whose Nonce identifies the acknowledgement event.
func (b *Client) SendCommand(kind string) (Command, error) {
	if !validCommandKind(kind) {
		return Command{}, fmt.Errorf("unknown command %q (want %s or %s)", kind, CommandCheckpoint, CommandStop)
	}
	if len(b.cfg.ControlSecret) == 0 {
		return Command{}, errors.New("no control secret: commands must be signed with the job's secret")
	}
	nonce, err := newCommandNonce()
	if err != nil {
		return Command{}, err
	}
	c := Command{Job: b.cfg.Job, Kind: kind, Issued: time.Now().Round(0), Nonce: nonce, From: b.cfg.Name}
	signCommand(b.cfg.ControlSecret, &c)
	if err := b.publishRaw(CommandSubject(b.cfg.Job), c); err != nil {
		return c, fmt.Errorf("send %s command: %w", kind, err)
	}
	return c, nil
}

// publishRaw publishes v at once and waits for the server to have it.
func (b *Client) publishRaw(subject string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	nc := b.conn()
	if err := nc.Publish(subject, data); err != nil {
		return err
	}
	return nc.FlushTimeout(5 * time.Second)
}

// logLimiter runs a logging function at most once per interval, passing the
// number of calls since the last run, so that a failing bus logs a line
// every few seconds instead of one per message.
type logLimiter struct {
	mu    sync.Mutex
	last  time.Time
	count int
}

const logInterval = 10 * time.Second

func (r *logLimiter) do(f func(n int)) {
	r.mu.Lock()
	r.count++
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < logInterval {
		r.mu.Unlock()
		return
	}
	n := r.count
	r.count = 0
	r.last = now
	r.mu.Unlock()
	f(n)
}
