package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadGossipKey(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		key := bytes.Repeat([]byte{byte(n)}, n)
		enc := base64.StdEncoding.EncodeToString(key)
		got, err := LoadGossipKey(enc, "")
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%d-byte key from value: %v", n, err)
		}
		path := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(path, []byte(enc+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err = LoadGossipKey("", path)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%d-byte key from file: %v", n, err)
		}
	}
	if key, err := LoadGossipKey("", ""); key != nil || err != nil {
		t.Fatalf("no key: %v %v", key, err)
	}
	secret := base64.StdEncoding.EncodeToString([]byte("0123456789"))
	for name, c := range map[string]struct{ value, path, want string }{
		"short":      {secret, "", "10 bytes; need 16, 24 or 32"},
		"not base64": {"not*base64!", "", "not standard base64"},
		"both":       {base64.StdEncoding.EncodeToString(make([]byte, 16)), "/x", "set one"},
		"no file":    {"", "/nonexistent/key", "no such file"},
	} {
		_, err := LoadGossipKey(c.value, c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the key", name)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGossipKey("", empty); err == nil {
		t.Fatal("empty key file accepted")
	}
}

func TestGossipKeyRefusesOthers(t *testing.T) {
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 32)
	cfg := msConfig(msMember("j", "h0", 0, 0))
	cfg.SecretKey = key1
	a := msStart(t, cfg)

	join := func(host string, key []byte) error {
		cfg := msConfig(msMember("j", host, 0, 0), a.Addr())
		cfg.SecretKey = key
		cfg.JoinTimeout = 500 * time.Millisecond
		m, err := Join(context.Background(), cfg)
		if err == nil {
			t.Cleanup(m.Shutdown)
		}
		return err
	}
	for name, key := range map[string][]byte{"wrong key": key2, "no key": nil} {
		err := join("h-"+strings.ReplaceAll(name, " ", ""), key)
		if err == nil || !strings.Contains(err.Error(), "gossip key") {
			t.Errorf("%s: join error %v, want a gossip key hint", name, err)
		}
	}
	if n := len(a.Members()); n != 1 {
		t.Fatalf("keyed node let %d members in", n)
	}
	if err := join("h1", key1); err != nil {
		t.Fatalf("right key: %v", err)
	}
	msWaitMembers(t, a, 2)

	// An unkeyed cluster refuses an encrypted joiner too.
	plain := msStart(t, msConfig(msMember("k", "h0", 0, 0)))
	cfg = msConfig(msMember("k", "h1", 0, 0), plain.Addr())
	cfg.SecretKey, cfg.JoinTimeout = key1, 500*time.Millisecond
	if _, err := Join(context.Background(), cfg); err == nil {
		t.Fatal("encrypted node joined a plain cluster")
	}

	// A malformed key refuses to start.
	cfg = msConfig(msMember("j", "h9", 0, 0))
	cfg.SecretKey = []byte("short")
	if _, err := Join(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "need 16, 24 or 32") {
		t.Fatalf("malformed key: %v", err)
	}
}
