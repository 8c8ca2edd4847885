package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/fdsm-go/fdsm/jobenv"
)

// EnvJobSecret holds a job's one secret; every key a job needs is derived
// from it (JobKeys), so launchers hand workers a single value.
const EnvJobSecret = jobenv.JobSecret

// minJobSecretLen is the shortest job secret accepted (bytes of its text):
// 16 random bytes in base64 are 22 characters.
const minJobSecretLen = 16

// NewJobSecret returns 32 random bytes, base64url-encoded.
func NewJobSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("job secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// JobKeys are the keys derived from a job secret, one per use, so that no
// key serves two purposes.
type JobKeys struct {
	Data     []byte // data-plane connection MACs (DataPlane.SetKey)
	Gossip   []byte // memberlist encryption (32 bytes, AES-256)
	BusToken string // control-bus token (hex), for the bus server and its clients
}

// DeriveJobKeys derives the job's keys: HMAC-SHA256(secret, "fdsm/<use>").
func DeriveJobKeys(secret string) (JobKeys, error) {
	if len(secret) < minJobSecretLen {
		return JobKeys{}, fmt.Errorf("%s is %d characters; need at least %d (fdsm launch makes one when none is given)",
			EnvJobSecret, len(secret), minJobSecretLen)
	}
	derive := func(use string) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("fdsm/" + use))
		return m.Sum(nil)
	}
	return JobKeys{Data: derive("data-plane"), Gossip: derive("gossip"),
		BusToken: hex.EncodeToString(derive("bus-token"))}, nil
}

// JobSecretFileName is where fdsm launch keeps the secret it made, in its
// log directory (mode 0600), for fdsm watch --job-secret-file.
const JobSecretFileName = "job-secret"

// LoadJobSecret reads a job secret from file (surrounding space trimmed)
// and checks it.
func LoadJobSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("job secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if _, err := DeriveJobKeys(s); err != nil {
		return "", fmt.Errorf("job secret in %s: %w", file, err)
	}
	return s, nil
}
