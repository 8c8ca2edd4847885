package cluster

import (
	"context"
	"net"
	"sync"
)

// HostResolver returns every address of a host name: a Kubernetes headless
// Service's name stands for all its pods.
type HostResolver func(ctx context.Context, host string) ([]net.IPAddr, error)

var (
	resolverMu sync.RWMutex
	resolver   HostResolver = net.DefaultResolver.LookupIPAddr
)

// SetHostResolver replaces how members resolve the names of seeds and of
// their own advertised host, and returns a function that restores the
// previous resolver. It exists for tests that run a Kubernetes job's pods
// as processes on one machine: they map the Service's DNS names
// (<job>-<i>.<service>) to loopback addresses, which no resolver of the
// machine knows.
func SetHostResolver(r HostResolver) (restore func()) {
	resolverMu.Lock()
	defer resolverMu.Unlock()
	prev := resolver
	resolver = r
	return func() {
		resolverMu.Lock()
		defer resolverMu.Unlock()
		resolver = prev
	}
}

// lookupHost resolves host with the current resolver.
func lookupHost(ctx context.Context, host string) ([]net.IPAddr, error) {
	resolverMu.RLock()
	r := resolver
	resolverMu.RUnlock()
	return r(ctx, host)
}
