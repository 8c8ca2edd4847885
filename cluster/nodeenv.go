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
	var env envReader
	w, err := jobenv.ResolveWorker(jobenv.OS())
	env.record(err)
	var c NodeConfig
	c.Member = env.member(w)
	c.GossipAddr, c.Seeds = w.GossipAddr, w.Seeds
	c.AdvertiseAddr = os.Getenv(EnvAdvertiseAddr)
	c.DataAddr = os.Getenv(EnvDataAddr)
	key, err := GossipKeyFromEnv()
	env.record(err)
	c.SecretKey = key
	c.Timing = env.gossipTiming()
	c.JoinTimeout = env.dur(EnvJoinTimeout, 0)
	c.Rendezvous = env.rendezvous(w)
	c.CollectiveTimeout = env.dur(EnvCollTimeout, 0)
	c.NATSURL = os.Getenv(bus.EnvNATSURL)
	c.NoBus = os.Getenv(bus.EnvNoBus) == "1"
	c.Insecure = os.Getenv(bus.EnvInsecure) == "1"
	c.BusServer = env.busServer(c.Insecure)
	c.Bus = env.busClient()
	if secret := os.Getenv(EnvJobSecret); secret != "" {
		env.record(applyJobSecret(&c, secret))
	}
	return c, env.err()
}

// envReader reads NodeConfigFromEnv's variables and collects what is wrong
// with them, so that one error names every malformed variable, in the order
// they are read, rather than only the first.
type envReader struct {
	errs []string
}

// record keeps err, if any, for the final error.
func (e *envReader) record(err error) {
	if err != nil {
		e.errs = append(e.errs, err.Error())
	}
}

// err is the error naming everything recorded, or nil.
func (e *envReader) err() error {
	if len(e.errs) > 0 {
		return fmt.Errorf("cluster environment: %s", strings.Join(e.errs, "; "))
	}
	return nil
}

// num reads the integer in variable name, or def when it is unset.
func (e *envReader) num(name string, def int) int {
	return readEnv(e, name, def, strconv.Atoi, "not an integer")
}

// dur reads the Go duration in variable name, or def when it is unset.
func (e *envReader) dur(name string, def time.Duration) time.Duration {
	return readEnv(e, name, def, time.ParseDuration, "not a duration (e.g. 30s, 5m)")
}

// readEnv parses variable name, or returns def when it is unset. A
// malformed value is recorded as "name=value: " + malformed, and parse's
// result for it returned.
func readEnv[T any](e *envReader, name string, def T, parse func(string) (T, error), malformed string) T {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Sprintf("%s=%q: %s", name, v, malformed))
	}
	return x
}

// member describes this process as a member of w's job.
func (e *envReader) member(w jobenv.Worker) Member {
	// The incarnation must grow with every restart of a slot. Restarted
	// containers get no restart count (Kubernetes), so the start time in
	// milliseconds leads; the launcher's count breaks ties.
	inc := uint64(time.Now().UnixMilli())<<8 | uint64(e.num(EnvRestartCount, 0)&0xff)
	return Member{Job: w.Job, Host: w.Host, NodeRank: w.NodeRank, LocalRank: w.LocalRank,
		Incarnation: inc, Devices: e.num(EnvDevices, 0)}
}

// gossipTiming is the timing EnvGossipProfile names; zero if it names none.
func (e *envReader) gossipTiming() Timing {
	switch p := os.Getenv(EnvGossipProfile); p {
	case "", "lan":
		return LANTiming()
	case "fast":
		return FastTiming()
	default:
		e.errs = append(e.errs, fmt.Sprintf("%s=%q: want lan or fast", EnvGossipProfile, p))
		return Timing{}
	}
}

// rendezvous bounds the job's world as w does, with the rendezvous's waits.
func (e *envReader) rendezvous(w jobenv.Worker) RendezvousConfig {
	last := e.dur(EnvLastCall, DefaultLastCall)
	if last == 0 {
		last = -1 // RendezvousConfig: negative means no wait
	}
	return RendezvousConfig{Min: w.MinWorld, Max: w.MaxWorld, LastCall: last, Timeout: e.dur(EnvRdvTimeout, 0)}
}

// busServer configures the control bus's server, should this node run it.
func (e *envReader) busServer(insecure bool) bus.ServerConfig {
	get := os.Getenv
	s := bus.ServerConfig{Host: get(bus.EnvBusHost), Port: e.num(bus.EnvBusPort, 0), Token: get(bus.EnvNATSToken), Insecure: insecure}
	for _, k := range strings.Split(get(bus.EnvBusNKeyUsers), ",") {
		if k = strings.TrimSpace(k); k != "" {
			s.NKeyPublic = append(s.NKeyPublic, k)
		}
	}
	if cert, key := get(bus.EnvBusTLSCert), get(bus.EnvBusTLSKey); cert != "" || key != "" {
		ca := get(bus.EnvBusTLSClientCA)
		s.TLS = &bus.TLS{CertFile: cert, KeyFile: key, CAFile: ca, VerifyClients: ca != ""}
	}
	return s
}

// busClient configures this node's connection to the control bus.
func (e *envReader) busClient() bus.Config {
	get := os.Getenv
	c := bus.Config{Token: get(bus.EnvNATSToken), NKeySeedFile: get(bus.EnvNATSNKeySeed)}
	if ca, cert, k := get(bus.EnvNATSTLSCA), get(bus.EnvNATSTLSCert), get(bus.EnvNATSTLSKey); ca != "" || cert != "" {
		c.TLS = &bus.TLS{CAFile: ca, CertFile: cert, KeyFile: k}
	}
	c.ControlSecret = e.controlSecret()
	return c
}

// controlSecret reads the secret that authenticates bus commands from the
// file bus.EnvControlSecFile names, else from bus.EnvControlSecret.
func (e *envReader) controlSecret() []byte {
	if f := os.Getenv(bus.EnvControlSecFile); f != "" {
		s, err := bus.LoadControlSecret(f)
		e.record(err)
		return s
	}
	s, err := bus.ControlSecretFromEnv()
	e.record(err)
	return s
}

// applyJobSecret fills c's keys from the job secret. The job secret
// authenticates the data plane and, unless given on their own, encrypts
// gossip and is the bus's token. (Commands keep the run directory's control
// secret, which fdsm ctl reads.)
func applyJobSecret(c *NodeConfig, secret string) error {
	keys, err := DeriveJobKeys(secret)
	if err != nil {
		return err
	}
	c.DataKey = keys.Data
	if c.SecretKey == nil {
		c.SecretKey = keys.Gossip
	}
	if c.BusServer.Token == "" && c.Bus.Token == "" && len(c.BusServer.NKeyPublic) == 0 && c.Bus.NKeySeedFile == "" {
		c.BusServer.Token, c.Bus.Token = keys.BusToken, keys.BusToken
	}
	return nil
}
