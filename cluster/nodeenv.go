package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fdsm-go/fdsm/bus"
)

// Extra knobs read from the environment by NodeConfigFromEnv (besides the
// launcher's variables in env.go and the control bus's in package bus).
const (
	EnvLastCall      = "FDSM_LAST_CALL"      // rendezvous last call (Go duration; default 30s, 0 = none)
	EnvRdvTimeout    = "FDSM_RDV_TIMEOUT"    // rendezvous timeout (default 10m)
	EnvGossipProfile = "FDSM_GOSSIP_PROFILE" // "lan" (default) or "fast" (failure seen in about a second; tests)
	EnvAdvertiseAddr = "FDSM_ADVERTISE_ADDR" // gossip address peers should use
	EnvDevices       = "FDSM_DEVICES"        // local accelerator count
)

// InCluster reports whether the environment describes a job member (set
// by `fdsm launch` or a pod spec).
func InCluster() bool { return os.Getenv(EnvJob) != "" }

// NodeConfigFromEnv builds a NodeConfig from the variables `fdsm launch`
// sets (env.go, above, and bus/env.go). Malformed values are errors naming
// the variable.
func NodeConfigFromEnv() (NodeConfig, error) {
	var c NodeConfig
	var errs []string
	get := os.Getenv
	num := func(name string, def int) int {
		v := get(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: not an integer", name, v))
		}
		return n
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := get(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: not a duration (e.g. 30s, 5m)", name, v))
		}
		return d
	}
	host := get(EnvHost)
	if host == "" {
		host = "127.0.0.1"
	}
	// The incarnation must grow with every restart of a slot. Restarted
	// containers get no restart count (Kubernetes), so the start time in
	// milliseconds leads; the launcher's count breaks ties.
	inc := uint64(time.Now().UnixMilli())<<8 | uint64(num(EnvRestartCount, 0)&0xff)
	nodeRank := num(EnvNodeRank, -1)
	if v := get(EnvJobCompletionIndex); v != "" && get(EnvNodeRank) == "" {
		nodeRank = num(EnvJobCompletionIndex, -1)
	}
	c.Member = Member{Job: get(EnvJob), Host: host, NodeRank: nodeRank, LocalRank: num(EnvLocalRank, 0),
		Incarnation: inc, Devices: num(EnvDevices, 0)}
	c.GossipAddr = get(EnvGossipAddr)
	if c.GossipAddr == "" {
		c.GossipAddr = host + ":0"
	}
	c.AdvertiseAddr = get(EnvAdvertiseAddr)
	c.DataAddr = get(EnvDataAddr)
	for _, s := range strings.Split(get(EnvSeeds), ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Seeds = append(c.Seeds, s)
		}
	}
	key, err := GossipKeyFromEnv()
	if err != nil {
		errs = append(errs, err.Error())
	}
	c.SecretKey = key
	switch p := get(EnvGossipProfile); p {
	case "", "lan":
		c.Timing = LANTiming()
	case "fast":
		c.Timing = FastTiming()
	default:
		errs = append(errs, fmt.Sprintf("%s=%q: want lan or fast", EnvGossipProfile, p))
	}
	c.JoinTimeout = dur(EnvJoinTimeout, 0)
	minW, maxW := num(EnvMinWorld, 1), num(EnvMaxWorld, 0)
	if maxW == 0 {
		maxW = minW
	}
	last := dur(EnvLastCall, DefaultLastCall)
	if last == 0 {
		last = -1 // RendezvousConfig: negative means no wait
	}
	c.Rendezvous = RendezvousConfig{Min: minW, Max: maxW, LastCall: last, Timeout: dur(EnvRdvTimeout, 0)}
	c.CollectiveTimeout = dur(EnvCollTimeout, 0)
	c.NATSURL = get(bus.EnvNATSURL)
	c.NoBus = get(bus.EnvNoBus) == "1"
	c.Insecure = get(bus.EnvInsecure) == "1"
	c.BusServer = bus.ServerConfig{Host: get(bus.EnvBusHost), Port: num(bus.EnvBusPort, 0), Token: get(bus.EnvNATSToken), Insecure: c.Insecure}
	for _, k := range strings.Split(get(bus.EnvBusNKeyUsers), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.BusServer.NKeyPublic = append(c.BusServer.NKeyPublic, k)
		}
	}
	if cert, key := get(bus.EnvBusTLSCert), get(bus.EnvBusTLSKey); cert != "" || key != "" {
		ca := get(bus.EnvBusTLSClientCA)
		c.BusServer.TLS = &bus.TLS{CertFile: cert, KeyFile: key, CAFile: ca, VerifyClients: ca != ""}
	}
	c.Bus = bus.Config{Token: get(bus.EnvNATSToken), NKeySeedFile: get(bus.EnvNATSNKeySeed)}
	if ca, cert, k := get(bus.EnvNATSTLSCA), get(bus.EnvNATSTLSCert), get(bus.EnvNATSTLSKey); ca != "" || cert != "" {
		c.Bus.TLS = &bus.TLS{CAFile: ca, CertFile: cert, KeyFile: k}
	}
	if f := get(bus.EnvControlSecFile); f != "" {
		if c.Bus.ControlSecret, err = bus.LoadControlSecret(f); err != nil {
			errs = append(errs, err.Error())
		}
	} else if s, err := bus.ControlSecretFromEnv(); err != nil {
		errs = append(errs, err.Error())
	} else {
		c.Bus.ControlSecret = s
	}
	if secret := get(EnvJobSecret); secret != "" {
		// The job secret authenticates the data plane and, unless given on
		// their own, encrypts gossip and is the bus's token. (Commands keep
		// the run directory's control secret, which fdsm ctl reads.)
		if keys, err := DeriveJobKeys(secret); err != nil {
			errs = append(errs, err.Error())
		} else {
			c.DataKey = keys.Data
			if c.SecretKey == nil {
				c.SecretKey = keys.Gossip
			}
			if c.BusServer.Token == "" && c.Bus.Token == "" && len(c.BusServer.NKeyPublic) == 0 && c.Bus.NKeySeedFile == "" {
				c.BusServer.Token, c.Bus.Token = keys.BusToken, keys.BusToken
			}
		}
	}
	if c.Member.Job == "" {
		errs = append(errs, EnvJob+" is not set")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("cluster environment: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
