package launch

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// parseSeeds splits comma-separated entries, adds defaultPort to bare hosts
// and checks every port.
func parseSeeds(raw []string, defaultPort int) ([]string, error) {
	var out []string
	for _, entry := range raw {
		for s := range strings.SplitSeq(entry, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			host, port, err := net.SplitHostPort(s)
			if err != nil {
				// A bare host (or bracketed IPv6 address) takes the default port.
				if strings.Contains(s, ":") && !strings.HasPrefix(s, "[") {
					return nil, fmt.Errorf("seed %q: want host or host:port", s)
				}
				host, port = strings.Trim(s, "[]"), strconv.Itoa(defaultPort)
			}
			if err := checkHost(host); err != nil {
				return nil, fmt.Errorf("seed %q: %w", s, err)
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("seed %q: port %q is not in 1..65535", s, port)
			}
			out = append(out, net.JoinHostPort(host, port))
		}
	}
	return out, nil
}

func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if strings.ContainsAny(h, " \t\n/,") {
		return fmt.Errorf("host %q contains a space, slash or comma", h)
	}
	return nil
}

// flagValue finds --name VALUE or --name=VALUE in args (stopping at --).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// logFileName names a worker's log: by node rank when known, else by host.
func logFileName(nodeRank int, host string, local int) string {
	return fmt.Sprintf("worker-%s-%d.log", nodeLabel(nodeRank, host), local)
}

// newJobID returns a fresh, sortable job id such as fdsm-20250102-150405-9f3a1c.
func newJobID() string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "fdsm-" + time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}
