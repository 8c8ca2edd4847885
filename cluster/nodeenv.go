package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Extra knobs read from the environment by NodeConfigFromEnv (besides the
// launcher's variables in env.go).
const (
	EnvLastCall       = "FDSM_LAST_CALL"      // rendezvous last call (Go duration; default 30s, 0 = none)
	EnvRdvTimeout     = "FDSM_RDV_TIMEOUT"    // rendezvous timeout (default 10m)
	EnvGossipProfile  = "FDSM_GOSSIP_PROFILE" // "lan" (default) or "fast" (failure seen in about a second; tests)
	EnvAdvertiseAddr  = "FDSM_ADVERTISE_ADDR" // gossip address peers should use
	EnvBusHost        = "FDSM_BUS_HOST"       // embedded bus listen host (default loopback)
	EnvBusPort        = "FDSM_BUS_PORT"       // embedded bus port (default 4222, busy: any)
	EnvNoBus          = "FDSM_NO_BUS"         // "1": no control bus
	EnvNATSNKeySeed   = "FDSM_NATS_NKEY_SEED" // file holding the bus client's nkey seed
	EnvNATSTLSCA      = "FDSM_NATS_TLS_CA"    // CA file verifying the bus server
	EnvNATSTLSCert    = "FDSM_NATS_TLS_CERT"  // client certificate for mutual TLS
	EnvNATSTLSKey     = "FDSM_NATS_TLS_KEY"   // its key
	EnvControlSecFile = "FDSM_CONTROL_SECRET_FILE"
	EnvBusNKeyUsers   = "FDSM_BUS_NKEY_USERS"    // embedded bus: comma-separated user public nkeys it accepts
	EnvBusTLSCert     = "FDSM_BUS_TLS_CERT"      // embedded bus: server certificate (enables TLS)
	EnvBusTLSKey      = "FDSM_BUS_TLS_KEY"       // embedded bus: its key
	EnvBusTLSClientCA = "FDSM_BUS_TLS_CLIENT_CA" // embedded bus: require client certificates from this CA
	EnvDevices        = "FDSM_DEVICES"           // local accelerator count
)

// InCluster reports whether the environment describes a job member (set
// by `fdsm launch` or a pod spec).
func InCluster() bool { return os.Getenv(EnvJob) != "" }

// NodeConfigFromEnv builds a NodeConfig from the variables `fdsm launch`
// sets (env.go and above). Malformed values are errors naming the variable.
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
	c.NATSURL = get(EnvNATSURL)
	c.NoBus = get(EnvNoBus) == "1"
	c.Insecure = get(EnvInsecure) == "1"
	c.BusServer = BusServerConfig{Host: get(EnvBusHost), Port: num(EnvBusPort, 0), Token: get(EnvNATSToken), Insecure: c.Insecure}
	for _, k := range strings.Split(get(EnvBusNKeyUsers), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.BusServer.NKeyPublic = append(c.BusServer.NKeyPublic, k)
		}
	}
	if cert, key := get(EnvBusTLSCert), get(EnvBusTLSKey); cert != "" || key != "" {
		ca := get(EnvBusTLSClientCA)
		c.BusServer.TLS = &BusTLS{CertFile: cert, KeyFile: key, CAFile: ca, VerifyClients: ca != ""}
	}
	c.Bus = BusConfig{Token: get(EnvNATSToken), NKeySeedFile: get(EnvNATSNKeySeed)}
	if ca, cert, k := get(EnvNATSTLSCA), get(EnvNATSTLSCert), get(EnvNATSTLSKey); ca != "" || cert != "" {
		c.Bus.TLS = &BusTLS{CAFile: ca, CertFile: cert, KeyFile: k}
	}
	if f := get(EnvControlSecFile); f != "" {
		if c.Bus.ControlSecret, err = LoadControlSecret(f); err != nil {
			errs = append(errs, err.Error())
		}
	} else if s, err := ControlSecretFromEnv(); err != nil {
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
