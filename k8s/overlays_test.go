package k8s

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/jobenv"
)

// gpuResource is the NVIDIA device plugin's resource.
const gpuResource corev1.ResourceName = "nvidia.com/gpu"

// TestGPUOverlay: a pod asks for as many GPUs as its workers use, runs the
// CUDA image with a memory-backed /dev/shm, and passes NCCL its variables.
func TestGPUOverlay(t *testing.T) {
	p := renderPod(t, "gpu")
	a := p.args
	if a.NProcPerNode < 1 || a.GPUsPerWorker < 1 {
		t.Fatalf("--nproc-per-node %d --gpus-per-worker %d: want a worker per GPU", a.NProcPerNode, a.GPUsPerWorker)
	}
	limit, ok := p.c.Resources.Limits[gpuResource]
	if want := resource.MustParse(strconv.Itoa(a.NProcPerNode * a.GPUsPerWorker)); !ok || limit.Cmp(want) != 0 {
		t.Errorf("%s limit %v, want %s = --nproc-per-node %d x --gpus-per-worker %d", gpuResource, limit.String(),
			want.String(), a.NProcPerNode, a.GPUsPerWorker)
	}
	if req, ok := p.c.Resources.Requests[gpuResource]; ok && req.Cmp(limit) != 0 {
		t.Errorf("%s request %v differs from its limit %v (GPUs are not overcommitted)", gpuResource, req.String(), limit.String())
	}
	if !strings.HasSuffix(p.c.Image, ":cuda") {
		t.Errorf("image %s, want the CUDA image (make image-cuda)", p.c.Image)
	}
	if i := slices.Index(a.Train, "--device"); i < 0 || i+1 >= len(a.Train) || !strings.HasPrefix(a.Train[i+1], "cuda") {
		t.Errorf("workers' command %q: want --device cuda:N", a.Train)
	}
	vol, _ := mountOf(t, p, "/dev/shm/x")
	if vol.EmptyDir == nil || vol.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("/dev/shm is %+v, want an emptyDir in memory", vol.VolumeSource)
	}
	for _, name := range []string{jobenv.NCCLPrefix + "SOCKET_IFNAME", jobenv.NCCLPrefix + "DEBUG"} {
		if envVar(p.c, name) == nil {
			t.Errorf("no %s", name)
		}
	}
}

// TestCPUOverlay: one worker per pod, no GPU asked for, bounded resources.
func TestCPUOverlay(t *testing.T) {
	p := renderPod(t, "cpu")
	if _, ok := p.c.Resources.Limits[gpuResource]; ok {
		t.Error("the cpu overlay asks for GPUs")
	}
	if p.args.NProcPerNode != 1 || p.c.Resources.Requests.Cpu().IsZero() || p.c.Resources.Limits.Memory().IsZero() {
		t.Errorf("--nproc-per-node %d, requests %v, limits %v", p.args.NProcPerNode, p.c.Resources.Requests,
			p.c.Resources.Limits)
	}
}

// TestNATSOverlay: the job's bus is the NATS Service the overlay runs, and
// the job and the server share the token's Secret.
func TestNATSOverlay(t *testing.T) {
	p := renderPod(t, "nats")
	u, err := url.Parse(plainEnv(t, p.c, bus.EnvNATSURL))
	if err != nil {
		t.Fatal(err)
	}
	svc := p.m.Service(u.Hostname())
	if svc == nil || len(svc.Spec.Ports) != 1 || strconv.Itoa(int(svc.Spec.Ports[0].Port)) != u.Port() {
		t.Fatalf("%s=%s names no Service port of the overlay", bus.EnvNATSURL, u)
	}
	if len(p.m.Deployments) != 1 {
		t.Fatalf("%d Deployments, want the NATS server", len(p.m.Deployments))
	}
	d := p.m.Deployments[0]
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the NATS pods lack", svc.Name, k, v)
		}
	}
	jobToken := envVar(p.c, bus.EnvNATSToken)
	server := d.Spec.Template.Spec.Containers[0]
	if jobToken == nil || jobToken.ValueFrom == nil || jobToken.ValueFrom.SecretKeyRef == nil ||
		!sameSecret(jobToken, server.Env) {
		t.Errorf("the job's %s and the NATS server's token must come from one Secret", bus.EnvNATSToken)
	}
	if _, port, _ := net.SplitHostPort(u.Host); !hasPort(server.Ports, port) {
		t.Errorf("the NATS container does not listen on %s", port)
	}
}

// sameSecret reports whether some variable of env takes the same Secret
// key as v.
func sameSecret(v *corev1.EnvVar, env []corev1.EnvVar) bool {
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
			e.ValueFrom.SecretKeyRef.Name == v.ValueFrom.SecretKeyRef.Name &&
			e.ValueFrom.SecretKeyRef.Key == v.ValueFrom.SecretKeyRef.Key {
			return true
		}
	}
	return false
}

func hasPort(ports []corev1.ContainerPort, port string) bool {
	for _, p := range ports {
		if strconv.Itoa(int(p.ContainerPort)) == port {
			return true
		}
	}
	return false
}
