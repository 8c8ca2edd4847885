package k8s

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/yaml"
)

// Manifests are the objects of one rendered overlay, by kind.
type Manifests struct {
	Jobs        []batchv1.Job
	Services    []corev1.Service
	ConfigMaps  []corev1.ConfigMap
	Claims      []corev1.PersistentVolumeClaim
	Deployments []appsv1.Deployment
}

// decode turns every resource into its k8s.io/api type. Unknown and
// duplicate fields are errors (yaml.UnmarshalStrict), as is a kind the
// manifests are not expected to hold: a typo in a field name that the API
// server would drop silently fails here.
func decode(res resmap.ResMap) (*Manifests, error) {
	m := &Manifests{}
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		id := r.GetApiVersion() + " " + r.GetKind()
		switch id {
		case "batch/v1 Job":
			err = decodeInto(y, &m.Jobs)
		case "v1 Service":
			err = decodeInto(y, &m.Services)
		case "v1 ConfigMap":
			err = decodeInto(y, &m.ConfigMaps)
		case "v1 PersistentVolumeClaim":
			err = decodeInto(y, &m.Claims)
		case "apps/v1 Deployment":
			err = decodeInto(y, &m.Deployments)
		default:
			err = fmt.Errorf("unexpected kind %s", id)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", id, r.GetName(), err)
		}
	}
	return m, nil
}

func decodeInto[T any](y []byte, list *[]T) error {
	var obj T
	if err := yaml.UnmarshalStrict(y, &obj); err != nil {
		return err
	}
	*list = append(*list, obj)
	return nil
}

// Job returns the one Job of the manifests.
func (m *Manifests) Job() (*batchv1.Job, error) {
	if len(m.Jobs) != 1 {
		return nil, fmt.Errorf("%d Jobs, want 1", len(m.Jobs))
	}
	return &m.Jobs[0], nil
}

// Service returns the Service named name, or nil.
func (m *Manifests) Service(name string) *corev1.Service {
	for i := range m.Services {
		if m.Services[i].Name == name {
			return &m.Services[i]
		}
	}
	return nil
}

// ConfigMap returns the ConfigMap named name, or nil.
func (m *Manifests) ConfigMap(name string) *corev1.ConfigMap {
	for i := range m.ConfigMaps {
		if m.ConfigMaps[i].Name == name {
			return &m.ConfigMaps[i]
		}
	}
	return nil
}

// Claim returns the PersistentVolumeClaim named name, or nil.
func (m *Manifests) Claim(name string) *corev1.PersistentVolumeClaim {
	for i := range m.Claims {
		if m.Claims[i].Name == name {
			return &m.Claims[i]
		}
	}
	return nil
}
