package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/fdsm-go/fdsm/jobenv"
	"github.com/fdsm-go/fdsm/k8s"
)

// k8sJob runs a rendered Job's pods as processes of this test binary, as
// the Job controller and the kubelet would: one process per pod with the
// pod template's command, arguments and environment, the completion index
// substituted, volumes as directories, and the names of the headless
// Service mapped to each pod's loopback address (envTestHosts).
type k8sJob struct {
	t      *testing.T
	m      *k8s.Manifests
	job    *batchv1.Job
	spec   *corev1.PodSpec
	c      *corev1.Container
	dir    string
	mounts map[string]string // mount path -> host directory (ConfigMaps, claims: shared by every pod)
	hosts  string            // the hosts file
	subnet string            // "127.a.b.": this test's pod addresses
	// secrets holds the Secrets an operator creates before the Job:
	// "<name>/<key>" -> value.
	secrets map[string]string
	pods    map[int]*k8sPod // the current pod of each index
	started int
	exits   chan k8sExit
}

// k8sPod is one pod: one process group, like one container.
type k8sPod struct {
	index int
	name  string // <job>-<index>-<n>, a new name for each replacement
	ip    string // a new address for each replacement, as a new pod gets
	cmd   *exec.Cmd
	out   syncBuffer
}

// k8sExit is a pod's container exiting with code (128 + signal if killed).
type k8sExit struct {
	pod  *k8sPod
	code int32
}

// newK8sJob renders overlay and lays out its volumes under a temp dir.
func newK8sJob(t *testing.T, overlay string) *k8sJob {
	t.Helper()
	m, err := k8s.Render(overlay)
	if err != nil {
		t.Fatal(err)
	}
	job, err := m.Job()
	if err != nil {
		t.Fatal(err)
	}
	spec := &job.Spec.Template.Spec
	j := &k8sJob{t: t, m: m, job: job, spec: spec, c: &spec.Containers[0], dir: t.TempDir(),
		mounts: map[string]string{}, secrets: map[string]string{}, pods: map[int]*k8sPod{},
		exits: make(chan k8sExit, 16), subnet: fmt.Sprintf("127.%d.%d.", 100+rand.IntN(100), rand.IntN(250))}
	j.hosts = filepath.Join(j.dir, "hosts")
	for _, vm := range j.c.VolumeMounts {
		j.mounts[vm.MountPath] = j.volumeDir(vm.Name)
	}
	t.Cleanup(j.killAll)
	return j
}

// volumeDir makes the directory that stands for a volume: a ConfigMap's
// keys as files, or a claim's directory shared by all pods (ReadWriteMany).
func (j *k8sJob) volumeDir(name string) string {
	i := slices.IndexFunc(j.spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		j.t.Fatalf("volume mount %s names no volume", name)
	}
	v := j.spec.Volumes[i]
	switch {
	case v.ConfigMap != nil:
		cm := j.m.ConfigMap(v.ConfigMap.Name)
		if cm == nil {
			j.t.Fatalf("volume %s: no ConfigMap %s", name, v.ConfigMap.Name)
		}
		dir := filepath.Join(j.dir, "configmaps", cm.Name)
		for key, text := range cm.Data {
			writeFile(j.t, filepath.Join(dir, key), text)
		}
		return dir
	case v.PersistentVolumeClaim != nil:
		if j.m.Claim(v.PersistentVolumeClaim.ClaimName) == nil {
			j.t.Fatalf("volume %s: no PersistentVolumeClaim %s", name, v.PersistentVolumeClaim.ClaimName)
		}
		dir := filepath.Join(j.dir, "claims", v.PersistentVolumeClaim.ClaimName)
		return dir
	}
	j.t.Fatalf("volume %s: this test has no stand-in for %+v", name, v.VolumeSource)
	return ""
}

func writeFile(t *testing.T, path, text string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostPath maps a path inside the container to the host directory of the
// volume mounted there; other strings are returned unchanged.
func (j *k8sJob) hostPath(s string) string {
	paths := make([]string, 0, len(j.mounts))
	for p := range j.mounts {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(a, b int) bool { return len(paths[a]) > len(paths[b]) })
	for _, p := range paths {
		if s == p || strings.HasPrefix(s, p+"/") {
			return j.mounts[p] + strings.TrimPrefix(s, p)
		}
	}
	return s
}

// start starts the pod of index: a new pod, with a new name and address,
// as the Job controller creates for a failed one.
func (j *k8sJob) start(index int) *k8sPod {
	j.t.Helper()
	p := &k8sPod{index: index, name: fmt.Sprintf("%s-%d-%d", j.job.Name, index, j.started),
		ip: j.subnet + strconv.Itoa(10+j.started)}
	j.started++
	j.pods[index] = p
	j.publishDNS()
	if len(j.c.Command) != 1 || j.c.Command[0] != "fdsm" {
		j.t.Fatalf("command %q: the image runs fdsm", j.c.Command)
	}
	args := []string{"-test.run=^$", "--"}
	for _, a := range j.c.Args {
		args = append(args, j.hostPath(a))
	}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = j.podEnv(p)
	p.cmd.Dir = filepath.Join(j.dir, "pods", p.name)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the container: killed as a whole
	if err := os.MkdirAll(p.cmd.Dir, 0o755); err != nil {
		j.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		j.t.Fatal(err)
	}
	go func() { j.exits <- k8sExit{p, exitCodeOf(p.cmd.Wait())} }()
	return p
}

// exitCodeOf is the container's exit code: the status, or 128 + the signal
// that killed it, as the kubelet reports.
func exitCodeOf(err error) int32 {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ee.ExitCode())
}

// kill kills the pod of index as a lost node would: every process of it.
func (j *k8sJob) kill(index int) {
	if err := syscall.Kill(-j.pods[index].cmd.Process.Pid, syscall.SIGKILL); err != nil {
		j.t.Fatal(err)
	}
}

func (j *k8sJob) killAll() {
	for _, p := range j.pods {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// labels are a pod's labels: the template's and the Job controller's.
func (j *k8sJob) labels(p *k8sPod) map[string]string {
	l := map[string]string{batchv1.JobNameLabel: j.job.Name, batchv1.JobCompletionIndexAnnotation: strconv.Itoa(p.index)}
	for k, v := range j.job.Spec.Template.Labels {
		l[k] = v
	}
	return l
}

// publishDNS writes what cluster DNS serves for the current pods: the
// headless Service named in the subdomain, if it selects them, gives
// <hostname>.<service> to each pod and <service> to all of them.
func (j *k8sJob) publishDNS() {
	svc := j.m.Service(j.spec.Subdomain)
	names := map[string][]string{}
	for _, p := range j.pods {
		if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || !selects(svc.Spec.Selector, j.labels(p)) {
			continue
		}
		hostname := j.job.Name + "-" + strconv.Itoa(p.index)
		names[hostname+"."+svc.Name] = []string{p.ip}
		names[svc.Name] = append(names[svc.Name], p.ip)
	}
	if err := writeHosts(j.hosts, names); err != nil {
		j.t.Fatal(err)
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// podEnv is the container's environment: the image's, what the Job
// controller adds for an Indexed Job, then the template's variables with
// their references resolved as the kubelet would.
func (j *k8sJob) podEnv(p *k8sPod) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(j.dir, "pods", p.name),
		envRunMain + "=1", envTestHosts + "=" + j.hosts,
		"HOSTNAME=" + j.job.Name + "-" + strconv.Itoa(p.index),
		jobenv.JobCompletionIndex + "=" + strconv.Itoa(p.index)}
	for _, e := range j.c.Env {
		env = append(env, e.Name+"="+j.envValue(p, e))
	}
	return env
}

// envValue resolves one variable of the template.
func (j *k8sJob) envValue(p *k8sPod, e corev1.EnvVar) string {
	switch {
	case e.ValueFrom == nil:
		if strings.Contains(e.Value, "$(") {
			j.t.Fatalf("env %s=%q: this test does not expand $(VAR) references", e.Name, e.Value)
		}
		return j.hostPath(e.Value)
	case e.ValueFrom.FieldRef != nil:
		switch f := e.ValueFrom.FieldRef.FieldPath; f {
		case "status.podIP":
			return p.ip
		case "metadata.name":
			return p.name
		case "metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']":
			return strconv.Itoa(p.index)
		}
	case e.ValueFrom.SecretKeyRef != nil:
		ref := e.ValueFrom.SecretKeyRef
		if v, ok := j.secrets[ref.Name+"/"+ref.Key]; ok {
			return v
		}
		j.t.Fatalf("env %s: no Secret %s with key %s", e.Name, ref.Name, ref.Key)
	}
	j.t.Fatalf("env %s: this test cannot resolve %+v", e.Name, e.ValueFrom)
	return ""
}
