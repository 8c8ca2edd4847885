package bus

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestBusRefusesOpenListener: an embedded bus that would listen beyond
// loopback with no token or nkeys refuses to start, naming the token and
// the insecure switch (it used to start with a warning, letting anyone read
// every rank's metrics); a token, or Insecure, lets it start.
func TestBusRefusesOpenListener(t *testing.T) {
	_, err := StartServer(ServerConfig{Host: "0.0.0.0", Port: -1, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), EnvNATSToken) || !strings.Contains(err.Error(), EnvInsecure) {
		t.Fatalf("open bus: %v", err)
	}
	for _, cfg := range []ServerConfig{
		{Host: "0.0.0.0", Port: -1, Token: "a token", Log: zerolog.Nop()},
		{Host: "0.0.0.0", Port: -1, Insecure: true, Log: zerolog.Nop()},
		{Port: -1, Log: zerolog.Nop()}, // loopback needs nothing
	} {
		srv, err := StartServer(cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		srv.Shutdown()
	}
}
