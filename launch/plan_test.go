package launch

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
)

// baseConfig is a valid static config that needs no lookups.
func baseConfig(t *testing.T) Config {
	return Config{
		NProcPerNode: 2,
		NodeRank:     UnknownNodeRank,
		Host:         "node1",
		Job:          "job-1",
		LogDir:       t.TempDir(),
		Command:      []string{"train"},
		Executable:   "/bin/true",
		BaseEnv:      []string{"PATH=/usr/bin"},
		MaxRestarts:  AutoRestarts,
	}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			m[k] = "DUPLICATE"
			continue
		}
		m[k] = v
	}
	return m
}

func checkEnv(t *testing.T, env map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := env[k]
		switch {
		case v == "<unset>" && ok:
			t.Errorf("%s = %q, want unset", k, got)
		case v != "<unset>" && got != v:
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestPlanStaticEnv(t *testing.T) {
	cfg := baseConfig(t)
	cfg.NNodes, cfg.NodeRank = 2, 1
	cfg.Seeds = []string{"node0:7000,node0:7001"}
	cfg.BaseEnv = []string{"PATH=/usr/bin", "RANK=99", bus.EnvNATSURL + "=nats://bus:4222",
		cluster.EnvGossipKey + "=a2V5", "LOCAL_RANK=7"}
	cfg.Env = []string{"EXTRA=1", "EXTRA=2"}
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Elastic || p.MinWorld != 4 || p.MaxWorld != 4 || p.Config.MaxRestarts != 0 {
		t.Fatalf("plan: elastic %v world %d..%d restarts %d", p.Elastic, p.MinWorld, p.MaxWorld, p.Config.MaxRestarts)
	}
	env := envMap(p.Env(1, 2))
	checkEnv(t, env, map[string]string{
		cluster.EnvRank:            "3",
		cluster.EnvWorldSize:       "4",
		cluster.EnvTorchLocalRank:  "1",
		cluster.EnvTorchLocalWS:    "2",
		cluster.EnvMasterAddr:      "node0",
		cluster.EnvMasterPort:      "7000",
		cluster.EnvTorchRestarts:   "2",
		cluster.EnvJob:             "job-1",
		cluster.EnvSeeds:           "node0:7000,node0:7001,node1:7946,node1:7947",
		cluster.EnvHost:            "node1",
		cluster.EnvNodeRank:        "1",
		cluster.EnvLocalRank:       "1",
		cluster.EnvLocalWorldSize:  "2",
		cluster.EnvMinWorld:        "4",
		cluster.EnvMaxWorld:        "4",
		cluster.EnvGossipAddr:      "node1:7947",
		cluster.EnvDataAddr:        "node1:0",
		cluster.EnvRestartCount:    "2",
		cluster.EnvWorkerLogPrefix: filepath.Join(cfg.LogDir, "worker-1-1.log"),
		bus.EnvNATSURL:             "nats://bus:4222",
		cluster.EnvGossipKey:       "a2V5",
		"PATH":                     "/usr/bin",
		"EXTRA":                    "2",
		"CUDA_VISIBLE_DEVICES":     "<unset>",
	})
	if p.Workers[0].Rank != 2 || p.Workers[1].Rank != 3 {
		t.Errorf("ranks %d %d, want 2 3", p.Workers[0].Rank, p.Workers[1].Rank)
	}
}

func TestPlanElasticEnv(t *testing.T) {
	cfg := baseConfig(t)
	cfg.MinNodes, cfg.MaxNodes = 1, 3
	cfg.Seeds = []string{"seed.svc"} // bare host: default port
	cfg.BaseEnv = []string{"RANK=5", "WORLD_SIZE=8"}
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Elastic || p.Config.MaxRestarts != DefaultElasticRestarts || p.Config.NodeRank != UnknownNodeRank {
		t.Fatalf("plan: elastic %v restarts %d node rank %d", p.Elastic, p.Config.MaxRestarts, p.Config.NodeRank)
	}
	checkEnv(t, envMap(p.Env(0, 0)), map[string]string{
		cluster.EnvRank:       "<unset>",
		cluster.EnvWorldSize:  "<unset>",
		cluster.EnvMinWorld:   "2",
		cluster.EnvMaxWorld:   "6",
		cluster.EnvNodeRank:   "-1",
		cluster.EnvSeeds:      "seed.svc:7946,node1:7946,node1:7947", // then this node's workers
		cluster.EnvMasterAddr: "seed.svc",
		cluster.EnvMasterPort: "7946",
	})
	if got := filepath.Base(p.Workers[1].LogFile); got != "worker-node1-1.log" {
		t.Errorf("elastic log file %s, want worker-node1-1.log", got)
	}
}

func TestPlanJobCompletionIndex(t *testing.T) {
	cfg := baseConfig(t)
	cfg.NNodes = 3
	cfg.Seeds = []string{"job-0.svc:7946"}
	cfg.BaseEnv = []string{cluster.EnvJobCompletionIndex + "=2"}
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Config.NodeRank != 2 || p.Workers[0].Rank != 4 || p.Workers[1].Rank != 5 {
		t.Fatalf("node rank %d ranks %d %d, want 2, 4 5", p.Config.NodeRank, p.Workers[0].Rank, p.Workers[1].Rank)
	}
	checkEnv(t, envMap(p.Env(1, 0)), map[string]string{cluster.EnvRank: "5", cluster.EnvWorldSize: "6"})

	// An explicit node rank wins over the index.
	cfg.NodeRank = 1
	if p, err = NewPlan(cfg); err != nil || p.Config.NodeRank != 1 {
		t.Fatalf("explicit node rank: %v, %d", err, p.Config.NodeRank)
	}
}

func TestPlanDefaults(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Job, cfg.Host, cfg.LogDir = "", "", ""
	cfg.Command = []string{"train", "--out", "/tmp/run7"}
	cfg.BaseEnv = []string{cluster.EnvHost + "=10.0.0.5", "POD_IP=10.9.9.9"}
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config
	if !jobIDPattern.MatchString(c.Job) || !strings.HasPrefix(c.Job, "fdsm-") {
		t.Errorf("fresh job id %q", c.Job)
	}
	if c.Host != "10.0.0.5" || c.LogDir != "/tmp/run7/logs" || c.NodeRank != 0 || c.NNodes != 1 {
		t.Errorf("host %q log dir %q node rank %d nnodes %d", c.Host, c.LogDir, c.NodeRank, c.NNodes)
	}
	if len(c.Seeds) != 1 || c.Seeds[0] != "10.0.0.5:7946" {
		t.Errorf("single-node seeds %v, want worker 0", c.Seeds)
	}
	if c.Grace != DefaultGrace || c.RestartDelay != DefaultRestartDelay || c.TailLines != DefaultTailLines {
		t.Errorf("timings %v %v %d", c.Grace, c.RestartDelay, c.TailLines)
	}

	// POD_IP when FDSM_HOST is unset; FDSM_JOB; ./fdsm-logs/<job>.
	cfg.BaseEnv = []string{"POD_IP=10.9.9.9", cluster.EnvJob + "=from-env"}
	cfg.Command = []string{"train"}
	if p, err = NewPlan(cfg); err != nil {
		t.Fatal(err)
	}
	if p.Config.Host != "10.9.9.9" || p.Config.Job != "from-env" ||
		!strings.HasSuffix(p.Config.LogDir, filepath.Join("fdsm-logs", "from-env")) {
		t.Errorf("host %q job %q log dir %q", p.Config.Host, p.Config.Job, p.Config.LogDir)
	}
}

func TestPlanAnyPortPicksSeedPort(t *testing.T) {
	cfg := baseConfig(t)
	cfg.GossipPortBase = AnyPort
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every worker gets its own port up front: worker 0's is the seed, and
	// a worker binding port 0 could otherwise be handed worker 0's port.
	w0, w1 := p.Workers[0].GossipAddr, p.Workers[1].GossipAddr
	if strings.HasSuffix(w0, ":0") || strings.HasSuffix(w1, ":0") || w0 == w1 || w0 != p.Config.Seeds[0] {
		t.Errorf("gossip %s %s, seeds %v: want distinct fixed ports, worker 0's as the seed", w0, w1, p.Config.Seeds)
	}
}

func TestPlanDevices(t *testing.T) {
	cfg := baseConfig(t)
	cfg.GPUsPerWorker = 2
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Workers[0].Devices != "0,1" || p.Workers[1].Devices != "2,3" {
		t.Errorf("devices %q %q", p.Workers[0].Devices, p.Workers[1].Devices)
	}
	cfg.BaseEnv = []string{"CUDA_VISIBLE_DEVICES=4,5,6,7"}
	if p, err = NewPlan(cfg); err != nil {
		t.Fatal(err)
	}
	if got := envMap(p.Env(1, 0))["CUDA_VISIBLE_DEVICES"]; got != "6,7" {
		t.Errorf("worker 1 CUDA_VISIBLE_DEVICES %q, want 6,7", got)
	}
}

func TestPlanValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"nproc", func(c *Config) { c.NProcPerNode = 0 }, "--nproc-per-node must be at least 1"},
		{"no command", func(c *Config) { c.Command = nil }, "missing the command"},
		{"node rank too big", func(c *Config) { c.NNodes, c.NodeRank, c.Seeds = 2, 2, []string{"a:1"} }, "outside [0, 2)"},
		{"node rank negative", func(c *Config) { c.NodeRank = -3 }, "negative"},
		{"node rank unknown", func(c *Config) { c.NNodes, c.Seeds = 2, []string{"a:1"} }, "JOB_COMPLETION_INDEX"},
		{"bad index", func(c *Config) {
			c.NNodes, c.Seeds, c.BaseEnv = 2, []string{"a:1"}, []string{"JOB_COMPLETION_INDEX=x"}
		}, "not a node rank"},
		{"min > max", func(c *Config) { c.MinNodes, c.MaxNodes = 3, 2 }, "larger than --max-nodes"},
		{"nnodes and min", func(c *Config) { c.NNodes, c.MinNodes = 2, 1 }, "conflicts"},
		{"elastic node rank", func(c *Config) { c.MaxNodes, c.NodeRank, c.Seeds = 2, 2, []string{"a:1"} }, "outside [0, 2)"},
		{"bad seed port", func(c *Config) { c.Seeds = []string{"a:abc"} }, `port "abc"`},
		{"zero seed port", func(c *Config) { c.Seeds = []string{"a:0"} }, "1..65535"},
		{"bad seed", func(c *Config) { c.Seeds = []string{"a:1:2"} }, "want host or host:port"},
		{"seed with space", func(c *Config) { c.Seeds = []string{"a b:1"} }, "space"},
		{"multi-node no job", func(c *Config) { c.NNodes, c.NodeRank, c.Job, c.Seeds = 2, 0, "", []string{"a:1"} }, "job id is required"},
		{"multi-node no seeds", func(c *Config) { c.NNodes, c.NodeRank = 2, 0 }, "--seeds is required"},
		{"bad job", func(c *Config) { c.Job = "a.b" }, "job id"},
		{"gossip port", func(c *Config) { c.GossipPortBase = 65535 }, "outside 1..65535"},
		{"restarts", func(c *Config) { c.MaxRestarts = -2 }, "--max-restarts"},
		{"gpus", func(c *Config) { c.GPUsPerWorker = -1 }, "--gpus-per-worker"},
		{"few devices", func(c *Config) {
			c.GPUsPerWorker, c.BaseEnv = 2, []string{"CUDA_VISIBLE_DEVICES=0,1,2"}
		}, "need 4 devices"},
		{"bad env", func(c *Config) { c.Env = []string{"NOEQUALS"} }, "KEY=VALUE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tc.edit(&cfg)
			_, err := NewPlan(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTailLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	b.WriteString("old incarnation\n")
	off := int64(b.Len())
	for i := range 5 {
		b.WriteString("line " + string(rune('a'+i)) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := tailLines(path, off, 3)
	if strings.Join(got, "|") != "line c|line d|line e" {
		t.Errorf("tail %q", got)
	}
	if got := tailLines(path, off, 10); len(got) != 5 {
		t.Errorf("tail from offset %q, want the 5 new lines", got)
	}
}

func TestLineWriter(t *testing.T) {
	var b strings.Builder
	w := &lineWriter{w: &b, prefix: "[w] "}
	_, _ = w.Write([]byte("a\nb"))
	_, _ = w.Write([]byte("c\n\nd"))
	w.Flush()
	if b.String() != "[w] a\n[w] bc\n[w] \n[w] d\n" {
		t.Errorf("got %q", b.String())
	}
}

// TestPlanGOMAXPROCS: workers share the machine's CPUs unless the launcher's
// environment or --env says otherwise.
func TestPlanGOMAXPROCS(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nproc int
		base  []string
		extra []string
		want  string
	}{
		{"default 2", 2, nil, nil, strconv.Itoa(max(1, runtime.GOMAXPROCS(0)/2))},
		{"default 1", 1, nil, nil, strconv.Itoa(runtime.GOMAXPROCS(0))},
		{"more workers than CPUs", runtime.GOMAXPROCS(0) + 1, nil, nil, "1"},
		{"inherited", 2, []string{"GOMAXPROCS=7"}, nil, "7"},
		{"--env", 2, nil, []string{"GOMAXPROCS=3"}, "3"},
		{"--env over inherited", 2, []string{"GOMAXPROCS=7"}, []string{"GOMAXPROCS=3"}, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.NProcPerNode = tc.nproc
			cfg.BaseEnv = append([]string{"PATH=/usr/bin"}, tc.base...)
			cfg.Env = tc.extra
			p, err := NewPlan(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.nproc {
				checkEnv(t, envMap(p.Env(i, 0)), map[string]string{"GOMAXPROCS": tc.want})
			}
		})
	}
}

// TestPlanJobSecret: a job on one node gets a fresh secret, the same for
// every worker and every restart, different per launch; a secret in the
// environment or --env is kept (not replaced); a job on several nodes gets
// none from the launcher (each node's would differ).
func TestPlanJobSecret(t *testing.T) {
	p, err := NewPlan(baseConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := envMap(p.Env(0, 0))[cluster.EnvJobSecret], envMap(p.Env(1, 3))[cluster.EnvJobSecret]
	if s0 == "" || s0 != s1 || !p.GeneratedSecret() {
		t.Fatalf("workers' secrets %q, %q: want one generated secret", s0, s1)
	}
	if _, err := cluster.DeriveJobKeys(s0); err != nil {
		t.Fatal(err)
	}
	again, _ := NewPlan(baseConfig(t))
	if envMap(again.Env(0, 0))[cluster.EnvJobSecret] == s0 {
		t.Fatal("two launches share a secret")
	}

	given := baseConfig(t)
	given.BaseEnv = append(given.BaseEnv, cluster.EnvJobSecret+"=the user's own job secret")
	p, _ = NewPlan(given)
	if got := envMap(p.Env(0, 0))[cluster.EnvJobSecret]; got != "the user's own job secret" || p.GeneratedSecret() {
		t.Fatalf("a given secret became %q", got)
	}
	viaFlag := baseConfig(t)
	viaFlag.Env = []string{cluster.EnvJobSecret + "=from --env, long enough"}
	p, _ = NewPlan(viaFlag)
	if got := envMap(p.Env(0, 0))[cluster.EnvJobSecret]; got != "from --env, long enough" {
		t.Fatalf("a secret from --env became %q", got)
	}

	multi := baseConfig(t)
	multi.NNodes, multi.NodeRank, multi.Seeds = 2, 0, []string{"node1:29400"}
	p, err = NewPlan(multi)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := envMap(p.Env(0, 0))[cluster.EnvJobSecret]; ok || p.GeneratedSecret() {
		t.Fatalf("a job on two nodes got a launcher-made secret %q", got)
	}
}

// TestPlanWriteSecret: the launcher keeps the secret it made in its log
// directory, readable by the user alone.
func TestPlanWriteSecret(t *testing.T) {
	p, err := NewPlan(baseConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	path, err := p.WriteSecret()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %s: %v %v", path, st.Mode(), err)
	}
	got, err := cluster.LoadJobSecret(path)
	if err != nil || got != envMap(p.Env(0, 0))[cluster.EnvJobSecret] {
		t.Fatalf("the file holds %q, the workers get another: %v", got, err)
	}
	given := baseConfig(t)
	given.BaseEnv = append(given.BaseEnv, cluster.EnvJobSecret+"=the user's own job secret")
	p, _ = NewPlan(given)
	if _, err := p.WriteSecret(); err == nil {
		t.Fatal("WriteSecret wrote a secret the launcher did not make")
	}
}
