package bus

// Environment variables that configure the control bus. `fdsm launch` (or
// a Kubernetes pod spec) sets them for a worker; cluster.NodeConfigFromEnv
// reads them into the node's ServerConfig and Config, and `fdsm watch`,
// `fdsm ctl` and `fdsm train --bus` read some of them directly.
const (
	EnvNATSURL       = "FDSM_NATS_URL"       // external control bus; empty = rank 0 embeds one
	EnvNATSToken     = "FDSM_NATS_TOKEN"     // control bus token
	EnvControlSecret = "FDSM_CONTROL_SECRET" // secret that authenticates commands on the bus
	EnvInsecure      = "FDSM_INSECURE"       // 1: run gossip, data plane and bus beyond loopback without a secret

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
)
