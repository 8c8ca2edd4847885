package bus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
)

// DefaultPort is the NATS client port that `fdsm watch` and `fdsm ctl`
// dial when no URL is given.
const DefaultPort = 4222

// DefaultHost is where an embedded control bus listens unless told
// otherwise: loopback, so that a single-machine run exposes nothing.
const DefaultHost = "127.0.0.1"

// readyTimeout bounds how long StartServer waits for the listener.
const readyTimeout = 10 * time.Second

// TLS names the TLS files of a bus server or client.
//
// Server: CertFile and KeyFile are required; CAFile verifies client
// certificates when VerifyClients is set. Client: CAFile verifies the
// server (system roots when empty); CertFile and KeyFile present a client
// certificate (mutual TLS).
type TLS struct {
	CertFile      string
	KeyFile       string
	CAFile        string
	VerifyClients bool // server only: require and verify client certificates
}

// ServerConfig configures an embedded NATS server for the control bus.
type ServerConfig struct {
	// Host to listen on; empty means DefaultHost (loopback). Use
	// "0.0.0.0" to accept other machines, together with auth and TLS.
	Host string
	// Port to listen on; 0 or negative picks a free port.
	Port int
	// Token, when set, is required from every client.
	Token string
	// NKeyPublic lists user public nkeys ("U...") allowed to connect; a
	// client then authenticates with the matching seed. With both Token and
	// NKeyPublic set, either credential is accepted.
	NKeyPublic []string
	// TLS, when set, makes the server require TLS.
	TLS *TLS
	// Insecure lets the server listen beyond loopback with no token or
	// nkeys (FDSM_INSECURE=1); without it such a server refuses to start.
	Insecure bool
	// Debug forwards the server's debug messages to Log.
	Debug bool
	Log   zerolog.Logger
}

// Server is an embedded NATS server. Its methods are safe for concurrent
// use.
type Server struct {
	srv  *server.Server
	opts *server.Options
	logs *serverLog
	once sync.Once
}

// StartServer starts an embedded NATS server and waits until it accepts
// clients. It installs no signal handlers and writes nothing to stdout; the
// server's warnings and errors go to cfg.Log. A listener that cannot start
// (port in use, bad TLS files) is reported as an error, never a hang.
func StartServer(cfg ServerConfig) (*Server, error) {
	opts := &server.Options{
		ServerName:      "fdsm-bus",
		Host:            cfg.Host,
		Port:            cfg.Port,
		NoSigs:          true,
		NoSystemAccount: true,
		MaxPayload:      1 << 20,
		AuthTimeout:     5,
	}
	if opts.Host == "" {
		opts.Host = DefaultHost
	}
	if opts.Port <= 0 {
		opts.Port = server.RANDOM_PORT
	}
	if !isLoopbackHost(opts.Host) && cfg.Token == "" && len(cfg.NKeyPublic) == 0 && !cfg.Insecure {
		// Every rank's telemetry would be readable by anyone who can reach
		// the port.
		return nil, fmt.Errorf("control bus server on %s: other machines could connect without authentication: set %s (or nkeys), or %s=1 (fdsm launch --insecure) to run it open",
			opts.Host, EnvNATSToken, EnvInsecure)
	}
	if cfg.Token != "" {
		opts.Authorization = cfg.Token
	}
	for _, pub := range cfg.NKeyPublic {
		if !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("control bus server: %q is not a user public nkey (U...)", pub)
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pub})
	}
	if cfg.TLS != nil {
		if cfg.TLS.CertFile == "" || cfg.TLS.KeyFile == "" {
			return nil, errors.New("control bus server: TLS needs a certificate and a key file")
		}
		if cfg.TLS.VerifyClients && cfg.TLS.CAFile == "" {
			return nil, errors.New("control bus server: verifying client certificates needs a CA file")
		}
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: cfg.TLS.CertFile,
			KeyFile:  cfg.TLS.KeyFile,
			CaFile:   cfg.TLS.CAFile,
			Verify:   cfg.TLS.VerifyClients,
			Timeout:  5,
		})
		if err != nil {
			return nil, fmt.Errorf("control bus server TLS: %w", err)
		}
		opts.TLSConfig = tc
		opts.TLS = true
		opts.TLSVerify = cfg.TLS.VerifyClients
		opts.TLSTimeout = 5
	}

	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("control bus server: %w", err)
	}
	logs := &serverLog{log: cfg.Log}
	srv.SetLogger(logs, cfg.Debug, false)
	srv.Start()
	if err := waitReady(srv, logs, readyTimeout); err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("control bus server on %s: %w",
			net.JoinHostPort(opts.Host, strconv.Itoa(cfg.Port)), err)
	}
	b := &Server{srv: srv, opts: opts, logs: logs}
	ev := cfg.Log.Info().Str("url", b.ClientURL()).Bool("token", cfg.Token != "").
		Int("nkeys", len(cfg.NKeyPublic)).Bool("tls", cfg.TLS != nil)
	ev.Msg("control bus listening")
	if !isLoopbackHost(opts.Host) && cfg.Token == "" && len(cfg.NKeyPublic) == 0 {
		cfg.Log.Warn().Str("host", opts.Host).
			Msg("insecure: the control bus accepts clients from other machines without authentication")
	}
	return b, nil
}

// waitReady polls the server until it accepts clients, failing at once
// when the listener reported a fatal error (ReadyForConnections alone would
// wait out its whole timeout on a port in use).
func waitReady(srv *server.Server, logs *serverLog, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if srv.ReadyForConnections(20 * time.Millisecond) {
			return nil
		}
		if msg := logs.lastFatal(); msg != "" {
			return errors.New(msg)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", timeout)
		}
	}
}

// ClientURL returns the URL clients on this machine dial: nats:// (tls://
// with TLS), the listen host and the actual port.
func (b *Server) ClientURL() string { return b.srv.ClientURL() }

// Port returns the port the server listens on.
func (b *Server) Port() int {
	if a, ok := b.srv.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return b.opts.Port
}

// URLFor returns the client URL with host in place of the listen host, for
// advertising a server that listens on all interfaces.
func (b *Server) URLFor(host string) string {
	u, err := url.Parse(b.ClientURL())
	if err != nil {
		return b.ClientURL()
	}
	u.Host = net.JoinHostPort(host, strconv.Itoa(b.Port()))
	return u.String()
}

// Shutdown stops the server and disconnects its clients. It is idempotent.
func (b *Server) Shutdown() {
	b.once.Do(func() {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	})
}

// isLoopbackHost reports whether host (a name or an IP) is this machine's
// loopback only: localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverLog adapts the NATS server's logger to zerolog. Notices are
// routine (listening, version) and go to debug; the last fatal message is
// kept to explain a server that never became ready.
type serverLog struct {
	log zerolog.Logger

	mu    sync.Mutex
	fatal string
}

func (l *serverLog) lastFatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

func (l *serverLog) Noticef(format string, v ...any) {
	l.log.Debug().Str("component", "nats").Msgf(format, v...)
}

func (l *serverLog) Warnf(format string, v ...any) {
	l.log.Warn().Str("component", "nats").Msgf(format, v...)
}

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	l.fatal = msg
	l.mu.Unlock()
	l.log.Error().Str("component", "nats").Msg(msg)
}

func (l *serverLog) Errorf(format string, v ...any) {
	l.log.Error().Str("component", "nats").Msgf(format, v...)
}

func (l *serverLog) Debugf(format string, v ...any) {
	l.log.Debug().Str("component", "nats").Msgf(format, v...)
}

func (l *serverLog) Tracef(format string, v ...any) {
	l.log.Trace().Str("component", "nats").Msgf(format, v...)
}
