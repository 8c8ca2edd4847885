package k8s

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/jobenv"
	"github.com/fdsm-go/fdsm/launch"
	"github.com/fdsm-go/fdsm/trainer"
)

// pod is one overlay's Job with its container and launch arguments.
type pod struct {
	m    *Manifests
	job  *batchv1.Job
	spec *corev1.PodSpec
	c    *corev1.Container
	args LaunchArgs
}

func renderPod(t *testing.T, overlay string) pod {
	t.Helper()
	m, err := Render(overlay)
	if err != nil {
		t.Fatal(err)
	}
	job, err := m.Job()
	if err != nil {
		t.Fatal(err)
	}
	spec := &job.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	args, err := ParseLaunchArgs(spec.Containers[0].Args)
	if err != nil {
		t.Fatal(err)
	}
	return pod{m: m, job: job, spec: spec, c: &spec.Containers[0], args: args}
}

func overlays(t *testing.T) []string {
	t.Helper()
	names, err := Overlays()
	if err != nil || len(names) == 0 {
		t.Fatalf("overlays %q: %v", names, err)
	}
	return names
}

// TestStrictDecoding: a field the API does not have is an error, not a
// field the API server would drop.
func TestStrictDecoding(t *testing.T) {
	var jobs []batchv1.Job
	typo := []byte("apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {completion: 2}\n")
	if err := decodeInto(typo, &jobs); err == nil || !strings.Contains(err.Error(), "completion") {
		t.Fatalf("a Job with spec.completion decoded: %v", err)
	}
	twice := []byte("apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {completions: 2, completions: 3}\n")
	if err := decodeInto(twice, &jobs); err == nil {
		t.Fatal("a Job with completions twice decoded")
	}
}

// TestJobWiring checks, in every overlay, what makes the pods one job.
func TestJobWiring(t *testing.T) {
	for _, name := range overlays(t) {
		t.Run(name, func(t *testing.T) {
			p := renderPod(t, name)
			checkIndexedJob(t, p)
			checkService(t, p)
			checkSeeds(t, p)
			checkEnvNames(t, p.c)
			checkSecrets(t, p.c)
			checkConfig(t, p)
			checkRunDir(t, p)
			checkFailurePolicy(t, p)
			checkUser(t, p.spec)
		})
	}
}

// checkIndexedJob: one pod per node, the pod index being the node rank.
func checkIndexedJob(t *testing.T, p pod) {
	s := p.job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || s.Parallelism == nil {
		t.Fatal("completions and parallelism must be set: one pod per node")
	}
	if *s.Completions != *s.Parallelism || int(*s.Completions) != p.args.NNodes {
		t.Errorf("completions %d, parallelism %d and --nnodes %d must be equal: every node runs at once",
			*s.Completions, *s.Parallelism, p.args.NNodes)
	}
	if p.spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q: podFailurePolicy needs Never", p.spec.RestartPolicy)
	}
	if len(p.c.Command) != 1 || p.c.Command[0] != "fdsm" {
		t.Errorf("command %q, want [fdsm] (the image's binary)", p.c.Command)
	}
	if p.args.Config == "" || p.args.Out == "" || len(p.args.Train) == 0 || p.args.Train[0] != "train" {
		t.Errorf("workers' command %q: want train --config ... --out ...", p.args.Train)
	}
}

// checkService: the headless Service named in the subdomain publishes
// every pod of this Job, ready or not, on the gossip port.
func checkService(t *testing.T, p pod) {
	svc := p.m.Service(p.spec.Subdomain)
	if svc == nil {
		t.Fatalf("no Service named like the subdomain %q", p.spec.Subdomain)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want None and true",
			svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	want := map[string]string{batchv1.JobNameLabel: p.job.Name}
	if len(svc.Spec.Selector) != 1 || svc.Spec.Selector[batchv1.JobNameLabel] != p.job.Name {
		t.Errorf("Service selector %v, want %v (the Job controller's label)", svc.Spec.Selector, want)
	}
	port := gossipPort(p)
	for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
		if !hasServicePort(svc, port, proto) || !hasContainerPort(p.c, port, proto) {
			t.Errorf("gossip port %d/%s missing from the Service or the container", port, proto)
		}
	}
}

func gossipPort(p pod) int32 {
	if p.args.GossipPort > 0 {
		return int32(p.args.GossipPort)
	}
	return jobenv.DefaultGossipPort
}

func hasServicePort(svc *corev1.Service, port int32, proto corev1.Protocol) bool {
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port && sp.Protocol == proto {
			return true
		}
	}
	return false
}

func hasContainerPort(c *corev1.Container, port int32, proto corev1.Protocol) bool {
	for _, cp := range c.Ports {
		if cp.ContainerPort == port && cp.Protocol == proto {
			return true
		}
	}
	return false
}

// checkSeeds: pod 0's stable name is the first seed, the job is named
// after the Job, and every node rank comes from the completion index.
func checkSeeds(t *testing.T, p pod) {
	svc, port := p.spec.Subdomain, strconv.Itoa(int(gossipPort(p)))
	seeds := strings.Split(plainEnv(t, p.c, jobenv.Seeds), ",")
	if want := net.JoinHostPort(p.job.Name+"-0."+svc, port); seeds[0] != want {
		t.Errorf("%s starts with %q, want pod 0 at %q", jobenv.Seeds, seeds[0], want)
	}
	for _, s := range seeds[1:] {
		if s != net.JoinHostPort(svc, port) {
			t.Errorf("seed %q is neither pod 0 nor the Service %s:%s", s, svc, port)
		}
	}
	if job := plainEnv(t, p.c, jobenv.Job); job != p.job.Name {
		t.Errorf("%s=%q, want the Job's name %q (fdsm watch --job)", jobenv.Job, job, p.job.Name)
	}
	if v := envVar(p.c, jobenv.PodIP); v == nil || v.ValueFrom == nil || v.ValueFrom.FieldRef == nil ||
		v.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("%s must come from the downward API (status.podIP): %+v", jobenv.PodIP, v)
	}
	for _, fixed := range []string{jobenv.NodeRank, jobenv.JobCompletionIndex, jobenv.Rank} {
		if envVar(p.c, fixed) != nil {
			t.Errorf("%s is set in the pod template: every pod would get the same", fixed)
		}
	}
}

// busVars are the control bus's variables (package bus's contract).
var busVars = []string{bus.EnvNATSURL, bus.EnvNATSToken, bus.EnvControlSecret, bus.EnvControlSecFile,
	bus.EnvInsecure, bus.EnvBusHost, bus.EnvBusPort, bus.EnvNoBus, bus.EnvNATSNKeySeed, bus.EnvNATSTLSCA,
	bus.EnvNATSTLSCert, bus.EnvNATSTLSKey, bus.EnvBusNKeyUsers, bus.EnvBusTLSCert, bus.EnvBusTLSKey,
	bus.EnvBusTLSClientCA}

// checkEnvNames: every variable the pod sets is one fdsm (or a library it
// passes them to) reads: a misspelt name would be ignored in silence.
func checkEnvNames(t *testing.T, c *corev1.Container) {
	for _, e := range c.Env {
		known := jobenv.Known(e.Name)
		for _, b := range busVars {
			known = known || e.Name == b
		}
		if !known {
			t.Errorf("env %s is not part of fdsm's contract (package jobenv, bus/env.go)", e.Name)
		}
	}
}

// checkSecrets: secrets come from Secrets, never from the manifests.
func checkSecrets(t *testing.T, c *corev1.Container) {
	if envVar(c, jobenv.JobSecret) == nil {
		t.Errorf("no %s: pods listen beyond loopback and refuse to start without it", jobenv.JobSecret)
	}
	for _, name := range []string{jobenv.JobSecret, jobenv.GossipKey, bus.EnvNATSToken, bus.EnvControlSecret} {
		v := envVar(c, name)
		if v != nil && (v.Value != "" || v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s must come from a Secret (valueFrom.secretKeyRef), not the manifest", name)
		}
	}
}

// checkConfig: --config names a key of the generated ConfigMap, mounted,
// and that key holds a valid training config.
func checkConfig(t *testing.T, p pod) {
	vol, mount := mountOf(t, p, p.args.Config)
	if vol.ConfigMap == nil {
		t.Fatalf("--config %s is not on a ConfigMap volume", p.args.Config)
	}
	cm := p.m.ConfigMap(vol.ConfigMap.Name)
	if cm == nil {
		t.Fatalf("volume %s names ConfigMap %q, which the overlay does not hold", vol.Name, vol.ConfigMap.Name)
	}
	key, _ := filepath.Rel(mount.MountPath, p.args.Config)
	text, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q (--config %s)", cm.Name, key, p.args.Config)
	}
	path := filepath.Join(t.TempDir(), key)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := trainer.LoadConfig(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Errorf("ConfigMap %s key %s: %v", cm.Name, key, err)
	}
}

// checkRunDir: --out is on the PersistentVolumeClaim, writable, so a
// replaced pod resumes from the checkpoints there.
func checkRunDir(t *testing.T, p pod) {
	vol, mount := mountOf(t, p, p.args.Out)
	if vol.PersistentVolumeClaim == nil || p.m.Claim(vol.PersistentVolumeClaim.ClaimName) == nil {
		t.Fatalf("--out %s is not on a PersistentVolumeClaim of the overlay (volume %s)", p.args.Out, vol.Name)
	}
	if mount.ReadOnly {
		t.Errorf("the run directory's volume is mounted read-only")
	}
	if !slices.Contains(p.args.Train, "--resume") {
		t.Errorf("train without --resume: a replaced pod would refuse the run directory (exit 2) and fail the Job")
	}
}

// checkFailurePolicy: fdsm's usage exit code fails the Job at once; its
// other failures, and kills, are retried up to backoffLimit; disruptions
// are not counted.
func checkFailurePolicy(t *testing.T, p pod) {
	act := func(code int32, disrupted bool) batchv1.PodFailurePolicyAction {
		return FailureAction(p.job, p.c.Name, code, disrupted)
	}
	if a := act(launch.ExitUsage, false); a != batchv1.PodFailurePolicyActionFailJob {
		t.Errorf("exit %d (usage) -> %s, want FailJob", launch.ExitUsage, a)
	}
	for _, code := range []int32{1, launch.ExitInterrupted, 128 + 9} {
		if a := act(code, false); a != batchv1.PodFailurePolicyActionCount {
			t.Errorf("exit %d -> %s, want Count (retried)", code, a)
		}
	}
	if a := act(launch.ExitInterrupted, true); a != batchv1.PodFailurePolicyActionIgnore {
		t.Errorf("a disrupted pod -> %s, want Ignore", a)
	}
	if b := p.job.Spec.BackoffLimit; b == nil || *b < 1 {
		t.Errorf("backoffLimit %v: a killed pod would fail the Job", b)
	}
}

// checkUser: the pod runs as the images' non-root user, whose group owns
// the run directory's volume.
func checkUser(t *testing.T, spec *corev1.PodSpec) {
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || sc.RunAsGroup == nil ||
		sc.FSGroup == nil {
		t.Fatalf("securityContext %+v: want runAsNonRoot, runAsUser, runAsGroup and fsGroup", sc)
	}
	for _, file := range []string{"../Dockerfile", "../Dockerfile.cuda"} {
		uid, gid := imageUser(t, file)
		if *sc.RunAsUser != uid || *sc.RunAsGroup != gid || *sc.FSGroup != gid {
			t.Errorf("runAsUser %d, runAsGroup %d, fsGroup %d; %s runs as %d:%d", *sc.RunAsUser, *sc.RunAsGroup,
				*sc.FSGroup, file, uid, gid)
		}
	}
}

// imageUser reads the numeric USER uid:gid of a Dockerfile's last stage.
func imageUser(t *testing.T, file string) (uid, gid int64) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	user := ""
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "USER "); ok {
			user = strings.TrimSpace(v)
		}
	}
	u, g, _ := strings.Cut(user, ":")
	uid, errU := strconv.ParseInt(u, 10, 64)
	gid, errG := strconv.ParseInt(g, 10, 64)
	if errU != nil || errG != nil {
		t.Fatalf("%s: USER %q is not numeric uid:gid", file, user)
	}
	return uid, gid
}

// mountOf returns the volume and mount that hold path in the container.
func mountOf(t *testing.T, p pod, path string) (*corev1.Volume, *corev1.VolumeMount) {
	t.Helper()
	for i, m := range p.c.VolumeMounts {
		if strings.HasPrefix(path, m.MountPath+"/") {
			for j := range p.spec.Volumes {
				if p.spec.Volumes[j].Name == m.Name {
					return &p.spec.Volumes[j], &p.c.VolumeMounts[i]
				}
			}
			t.Fatalf("mount %s names no volume", m.Name)
		}
	}
	t.Fatalf("%s is on no volume", path)
	return nil, nil
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// plainEnv returns a variable's literal value; it must be set.
func plainEnv(t *testing.T, c *corev1.Container, name string) string {
	t.Helper()
	v := envVar(c, name)
	if v == nil || v.Value == "" {
		t.Fatalf("env %s has no value", name)
	}
	return v.Value
}
