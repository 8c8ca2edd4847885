package bus

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Commands on the bus are authenticated end to end, independently of the
// server's own client authentication: a rank obeys a command only when it
// carries an HMAC-SHA256, keyed by the job's control secret, over all of its
// fields, was issued recently, and has not been seen before. Anyone who can
// reach the bus but lacks the secret can neither forge nor replay a command.

// ControlSecretFile is the name of the secret LoadOrCreateControlSecret
// keeps in a run directory.
const ControlSecretFile = "control-secret"

// MinControlSecretLen is the shortest control secret accepted, in bytes.
const MinControlSecretLen = 16

// CommandMaxAge bounds how old (or, for clock skew, how far in the future)
// a command may be when a rank receives it.
const CommandMaxAge = 60 * time.Second

// ErrCommandRefused is wrapped by every reason a command is not obeyed.
var ErrCommandRefused = errors.New("unauthenticated command refused")

// LoadControlSecret reads a control secret from path: the file's text with
// surrounding white space removed, at least MinControlSecretLen bytes.
func LoadControlSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("control secret: %w", err)
	}
	s, err := checkControlSecret([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		return nil, fmt.Errorf("control secret %s: %w", path, err)
	}
	return s, nil
}

// ControlSecretFromEnv returns the secret in FDSM_CONTROL_SECRET, or nil
// when the variable is unset or empty.
func ControlSecretFromEnv() ([]byte, error) {
	v := strings.TrimSpace(os.Getenv(EnvControlSecret))
	if v == "" {
		return nil, nil
	}
	s, err := checkControlSecret([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvControlSecret, err)
	}
	return s, nil
}

func checkControlSecret(s []byte) ([]byte, error) {
	if len(s) < MinControlSecretLen {
		return nil, fmt.Errorf("secret is %d bytes, need at least %d", len(s), MinControlSecretLen)
	}
	return s, nil
}

// LoadOrCreateControlSecret returns the secret in dir/control-secret,
// creating it (32 random bytes, hex, mode 0600) when missing, together with
// the file's path. Processes racing to create it all end with the same
// secret: the file appears complete or not at all.
func LoadOrCreateControlSecret(dir string) ([]byte, string, error) {
	path := filepath.Join(dir, ControlSecretFile)
	if s, err := LoadControlSecret(path); err == nil {
		return s, path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, path, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, path, fmt.Errorf("control secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, path, fmt.Errorf("control secret: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".control-secret-*")
	if err != nil {
		return nil, path, fmt.Errorf("control secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; Chmod guards odd umasks.
	_, werr := tmp.WriteString(hex.EncodeToString(raw) + "\n")
	if werr == nil {
		werr = tmp.Chmod(0o600)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, path, fmt.Errorf("control secret: %w", werr)
	}
	// Link fails if another process created the file meanwhile; its secret
	// wins.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, path, fmt.Errorf("control secret: %w", err)
	}
	s, err := LoadControlSecret(path)
	return s, path, err
}

// commandMAC returns the hex HMAC-SHA256 of a command's fields under secret.
// Each field is length-prefixed so that no two commands encode alike.
func commandMAC(secret []byte, c Command) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("fdsm-command-v1"))
	for _, f := range []string{c.Job, c.Kind, strconv.FormatInt(c.Issued.UnixNano(), 10), c.Nonce, c.From} {
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// signCommand fills in c.MAC.
func signCommand(secret []byte, c *Command) {
	c.MAC = commandMAC(secret, *c)
}

// newCommandNonce returns 16 random bytes in hex.
func newCommandNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// commandVerifier checks commands for one job and remembers the nonces of
// those it accepted, for CommandMaxAge, to refuse replays. It is safe for
// concurrent use.
type commandVerifier struct {
	job    string
	secret []byte
	maxAge time.Duration

	mu   sync.Mutex
	seen map[string]time.Time // nonce -> issued
}

func newCommandVerifier(job string, secret []byte) *commandVerifier {
	return &commandVerifier{job: job, secret: secret, maxAge: CommandMaxAge, seen: map[string]time.Time{}}
}

// verify returns nil when c is authentic, fresh and new at time now, and
// records its nonce; otherwise an error wrapping ErrCommandRefused.
func (v *commandVerifier) verify(c Command, now time.Time) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrCommandRefused, fmt.Sprintf(format, a...))
	}
	if len(v.secret) == 0 {
		return refuse("this rank has no control secret, so it obeys no command")
	}
	if c.MAC == "" {
		return refuse("no MAC (sender lacks the control secret)")
	}
	want := commandMAC(v.secret, c)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(c.MAC))) {
		return refuse("bad MAC (sender has a different control secret, or the command was altered)")
	}
	// Authentic from here on: the fields below were written by a holder of
	// the secret.
	if c.Job != v.job {
		return refuse("command for job %q, not %q", c.Job, v.job)
	}
	if !validCommandKind(c.Kind) {
		return refuse("unknown command %q", c.Kind)
	}
	if c.Nonce == "" {
		return refuse("no nonce")
	}
	if age := now.Sub(c.Issued); age > v.maxAge {
		return refuse("stale: issued %s ago (limit %s)", age.Round(time.Second), v.maxAge)
	} else if -age > v.maxAge {
		return refuse("issued %s in the future (clocks out of sync?)", (-age).Round(time.Second))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for n, issued := range v.seen {
		if now.Sub(issued) > 2*v.maxAge {
			delete(v.seen, n)
		}
	}
	if _, dup := v.seen[c.Nonce]; dup {
		return refuse("replay of command %s", c.Nonce)
	}
	v.seen[c.Nonce] = c.Issued
	return nil
}
