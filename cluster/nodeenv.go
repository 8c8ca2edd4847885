package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/jobenv"
)

// Extra knobs read from the environment by NodeConfigFromEnv (besides the
// launcher's variables in env.go and the control bus's in package bus).
const (
	EnvLastCall      = jobenv.LastCall      // rendezvous last call (Go duration; default 30s, 0 = none)
	EnvRdvTimeout    = jobenv.RdvTimeout    // rendezvous timeout (default 10m)
	EnvGossipProfile = jobenv.GossipProfile // "lan" (default) or "fast" (failure seen in about a second; tests)
	EnvAdvertiseAddr = jobenv.AdvertiseAddr // gossip address peers should use
	EnvDevices       = jobenv.Devices       // local accelerator count
)

// InCluster reports whether the environment describes a job member: FDSM_JOB
// is set (by `fdsm launch` or a pod spec), or another launcher's variables
// (torchrun, Kubeflow, an srun task) describe a job of several processes,
// or describe one wrongly (NodeConfigFromEnv then says how).
func InCluster() bool {
	if os.Getenv(EnvJob) != "" {
		return true
	}
	w, err := jobenv.ResolveWorker(jobenv.OS())
	return w.Launcher != "" && (err != nil || w.MaxWorld > 1)
}

// NodeConfigFromEnv builds a NodeConfig from the variables `fdsm launch`
// sets, or another launcher's that jobenv.ResolveWorker maps onto them, and
// the control bus's (bus/env.go). Malformed values are errors naming the
// variable.
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
	w, err := jobenv.ResolveWorker(jobenv.OS())
	if err != nil {
		errs = append(errs, err.Error())
	}
	// The incarnation must grow with every restart of a slot. Restarted
	// containers get no restart count (Kubernetes), so the start time in
	// milliseconds leads; the launcher's count breaks ties.
	inc := uint64(time.Now().UnixMilli())<<8 | uint64(num(EnvRestartCount, 0)&0xff)
	c.Member = Member{Job: w.Job, Host: w.Host, NodeRank: w.NodeRank, LocalRank: w.LocalRank,
		Incarnation: inc, Devices: num(EnvDevices, 0)}
	c.GossipAddr, c.Seeds = w.GossipAddr, w.Seeds
	c.AdvertiseAddr = get(EnvAdvertiseAddr)
	c.DataAddr = get(EnvDataAddr)
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
	last := dur(EnvLastCall, DefaultLastCall)
	if last == 0 {
		last = -1 // RendezvousConfig: negative means no wait
	}
	c.Rendezvous = RendezvousConfig{Min: w.MinWorld, Max: w.MaxWorld, LastCall: last, Timeout: dur(EnvRdvTimeout, 0)}
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
	if len(errs) > 0 {
		return c, fmt.Errorf("cluster environment: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
