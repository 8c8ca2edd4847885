package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fdsm-go/fdsm/tensor"
)

// Spec names a model kind and its options, as written in YAML or JSON:
//
//	kind: mlp
//	input_dim: 784
//	hidden: [512, 512]
//
// Options are the keys beside kind; each kind documents its own and fills
// defaults for the ones left out.
type Spec struct {
	Kind    string
	Options map[string]any
}

// MarshalJSON writes the flat form {"kind": ..., options...}.
func (s Spec) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(s.Options)+1)
	for k, v := range s.Options {
		m[k] = v
	}
	m["kind"] = s.Kind
	return json.Marshal(m)
}

// UnmarshalJSON reads the flat form.
func (s *Spec) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	return s.fromMap(m)
}

func (s *Spec) fromMap(m map[string]any) error {
	k, ok := m["kind"].(string)
	if !ok || k == "" {
		return fmt.Errorf("model spec needs a string \"kind\" (valid: %s)", strings.Join(Kinds(), ", "))
	}
	s.Kind = k
	s.Options = make(map[string]any, len(m))
	for key, v := range m {
		if key != "kind" {
			s.Options[key] = v
		}
	}
	return nil
}

// ParseSpec reads a spec from YAML or JSON text (JSON is YAML).
func ParseSpec(text []byte) (Spec, error) {
	var m map[string]any
	if err := yaml.Unmarshal(text, &m); err != nil {
		return Spec{}, fmt.Errorf("model spec: %w", err)
	}
	var s Spec
	if err := s.fromMap(m); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// LoadSpec resolves arg to a spec: a path to a YAML/JSON file, or a kind
// name (all options default), or inline JSON/YAML text.
func LoadSpec(arg string) (Spec, error) {
	if _, ok := registry[arg]; ok {
		return Spec{Kind: arg, Options: map[string]any{}}, nil
	}
	if b, err := os.ReadFile(arg); err == nil {
		s, err := ParseSpec(b)
		if err != nil {
			return Spec{}, fmt.Errorf("%s: %w", arg, err)
		}
		return s, nil
	} else if !strings.ContainsAny(arg, "{:\n") {
		return Spec{}, fmt.Errorf("model %q is neither a kind (%s) nor a readable spec file: %v", arg, strings.Join(Kinds(), ", "), err)
	}
	return ParseSpec([]byte(arg))
}

// kind is a registered model kind.
type kind struct {
	doc     string
	options func() any // pointer to a struct with defaults set
	build   func(b *Builder, opts any) (Model, error)
}

var registry = map[string]kind{}

// register adds a kind; newOpts returns a pointer to its options with defaults.
func register[O any](name, doc string, newOpts func() *O, build func(b *Builder, o *O) (Model, error)) {
	registry[name] = kind{
		doc:     doc,
		options: func() any { return newOpts() },
		build:   func(b *Builder, o any) (Model, error) { return build(b, o.(*O)) },
	}
}

// Kinds lists the registered model kinds.
func Kinds() []string {
	ks := make([]string, 0, len(registry))
	for k := range registry {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// KindDoc returns a one-line description of a kind.
func KindDoc(k string) string { return registry[k].doc }

// Build constructs the model a spec describes, with parameters on backend be
// in dtype dt initialised from seed. Unknown kinds and options, and invalid
// option values, are errors that list what is valid.
func Build(s Spec, be tensor.Backend, dt tensor.DType, seed uint64) (Model, error) {
	k, ok := registry[s.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown model kind %q (valid: %s)", s.Kind, strings.Join(Kinds(), ", "))
	}
	opts := k.options()
	if err := decodeOptions(s.Options, opts); err != nil {
		return nil, fmt.Errorf("model %s: %w", s.Kind, err)
	}
	m, err := k.build(NewBuilder(be, dt, seed), opts)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", s.Kind, err)
	}
	return m, nil
}

// decodeOptions fills the struct dst from m, refusing unknown keys.
func decodeOptions(m map[string]any, dst any) error {
	valid := optionNames(dst)
	for key := range m {
		if !contains(valid, key) {
			return fmt.Errorf("unknown option %q (valid: %s)", key, strings.Join(valid, ", "))
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("bad option value: %v", err)
	}
	return nil
}

// optionNames lists the JSON names of an options struct's fields.
func optionNames(opts any) []string {
	t := reflect.TypeOf(opts).Elem()
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if n := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]; n != "" && n != "-" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// specOf returns the spec with every option spelled out (defaults included).
func specOf(kind string, opts any) Spec {
	b, _ := json.Marshal(opts)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return Spec{Kind: kind, Options: m}
}
