package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/fdsm-go/fdsm/cluster"
)

// envTestHosts names a hosts file that replaces DNS for the members of a
// test job (test binaries only): the pods-as-processes test maps a
// Kubernetes Service's names to the loopback addresses of its "pods".
const envTestHosts = "FDSM_TEST_HOSTS_FILE"

// Every process of the test binary (the test, and the pods and workers it
// starts as fdsm) installs the mapping when the variable names a file.
func init() {
	if path := os.Getenv(envTestHosts); path != "" {
		cluster.SetHostResolver(hostsFileResolver(path))
	}
}

// hostsFileResolver resolves names from a file of "name ip..." lines, read
// at every lookup, so that the test can move a name to a replacement pod's
// new address as cluster DNS would.
func hostsFileResolver(path string) cluster.HostResolver {
	return func(ctx context.Context, host string) ([]net.IPAddr, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || fields[0] != host {
				continue
			}
			var out []net.IPAddr
			for _, a := range fields[1:] {
				out = append(out, net.IPAddr{IP: net.ParseIP(a)})
			}
			return out, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

// writeHosts replaces the hosts file at once (rename), so that a reader
// never sees half of it.
func writeHosts(path string, names map[string][]string) error {
	var b strings.Builder
	for name, ips := range names {
		b.WriteString(name + " " + strings.Join(ips, " ") + "\n")
	}
	tmp := filepath.Join(filepath.Dir(path), ".hosts.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
