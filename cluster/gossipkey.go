package cluster

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// LoadGossipKey returns the gossip encryption key given as standard base64,
// either directly in value (typically from FDSM_GOSSIP_KEY) or in the file
// at path (FDSM_GOSSIP_KEY_FILE; surrounding white space is ignored). Both
// empty means no encryption: it returns nil, nil. Giving both is refused, as
// is anything that does not decode to 16, 24 or 32 bytes (AES-128, -192 or
// -256): a node must not start with a key its peers cannot share. Errors
// never contain the key.
func LoadGossipKey(value, path string) ([]byte, error) {
	value = strings.TrimSpace(value)
	src := EnvGossipKey
	switch {
	case value != "" && path != "":
		return nil, fmt.Errorf("gossip key: both %s and %s are set; set one", EnvGossipKey, EnvGossipKeyFile)
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("gossip key: %w", err)
		}
		value = strings.TrimSpace(string(b))
		src = path
		if value == "" {
			return nil, fmt.Errorf("gossip key: file %s is empty", path)
		}
	case value == "":
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("gossip key from %s: not standard base64 (make one with `head -c 32 /dev/urandom | base64`)", src)
	}
	if err := checkGossipKey(key); err != nil {
		return nil, fmt.Errorf("gossip key from %s: %w", src, err)
	}
	return key, nil
}

// GossipKeyFromEnv loads the gossip key named by FDSM_GOSSIP_KEY or
// FDSM_GOSSIP_KEY_FILE (see LoadGossipKey).
func GossipKeyFromEnv() ([]byte, error) {
	return LoadGossipKey(os.Getenv(EnvGossipKey), os.Getenv(EnvGossipKeyFile))
}

// checkGossipKey accepts the AES key sizes memberlist supports.
func checkGossipKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("key is %d bytes; need 16, 24 or 32 (make one with `head -c 32 /dev/urandom | base64`)", len(key))
}
