package trainer

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// The config is decoded into a generic map first (YAML, --set) and then
// into Config through encoding/json. json's own errors speak Go ("cannot
// unmarshal string into Go struct field OptimizerConfig.optimizer.lr of type
// float64"), so checkSection walks the map against Config's fields first and
// says the same in the user's terms: the dotted key, the value as given and
// what the key takes.

// configProblems are the mistakes found in one config source.
type configProblems []string

func (p configProblems) Error() string {
	if len(p) == 1 {
		return p[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// checkSection returns the problems of the section m (at dotted path
// prefix; "" for the top level) against the struct type t, in key order.
func checkSection(prefix string, m map[string]any, t reflect.Type) configProblems {
	fields, names := jsonFields(t)
	var out configProblems
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key := joinKey(prefix, k)
		ft, ok := fields[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s: unknown key (%s)", key, validKeys(prefix, names)))
			continue
		}
		out = append(out, checkValue(key, m[k], ft)...)
	}
	return out
}

func validKeys(prefix string, names []string) string {
	if prefix == "" {
		return "valid keys: " + strings.Join(names, ", ")
	}
	return "valid keys of " + prefix + ": " + strings.Join(names, ", ")
}

// checkValue returns the problem, if any, of storing v (a decoded YAML
// value) at key in a field of type t.
func checkValue(key string, v any, t reflect.Type) configProblems {
	if v == nil {
		return nil // an empty value leaves the default, as json does
	}
	bad := func(what string) configProblems {
		return configProblems{fmt.Sprintf("%s: %s is not %s", key, formatValue(v), what)}
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return bad("a section of keys (key: value lines, or {key: value})")
		}
		return checkSection(key, m, t)
	case reflect.Map:
		if _, ok := v.(map[string]any); !ok {
			return bad("a section of keys (key: value lines, or {key: value})")
		}
		return nil // free-form (the model spec); the model checks its options
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return bad("a list (write [a, b])")
		}
		var out configProblems
		for i, x := range l {
			out = append(out, checkValue(fmt.Sprintf("%s[%d]", key, i), x, t.Elem())...)
		}
		return out
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad("a string (quote it)")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case reflect.Float32, reflect.Float64:
		f, ok := toFloat(v)
		switch {
		case !ok:
			return bad("a number")
		case math.IsNaN(f) || math.IsInf(f, 0):
			return bad("a finite number")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return checkInt(key, v, t, bad)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return checkUint(key, v, t, bad)
	}
	return nil
}

func checkInt(key string, v any, t reflect.Type, bad func(string) configProblems) configProblems {
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) {
		return bad("an integer")
	}
	if i, exact := toInt64(v); !exact || reflect.Zero(t).OverflowInt(i) {
		return bad("an integer in range")
	}
	return nil
}

func checkUint(key string, v any, t reflect.Type, bad func(string) configProblems) configProblems {
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) || f < 0 {
		return bad("a non-negative integer")
	}
	if u, exact := toUint64(v); !exact || reflect.Zero(t).OverflowUint(u) {
		return bad("an integer in range")
	}
	return nil
}

// toFloat returns a decoded number as a float64; ok is false for anything
// else.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// toInt64 converts an integral number exactly; exact is false when it
// does not fit.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float64:
		return int64(x), x >= -(1<<63) && x < 1<<63
	}
	return 0, false
}

func toUint64(v any) (uint64, bool) {
	switch x := v.(type) {
	case int:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	case uint64:
		return x, true
	case float64:
		return uint64(x), x >= 0 && x < 1<<64
	}
	return 0, false
}

// formatValue writes a decoded value the way a user would have written it:
// strings quoted, numbers plain, lists and sections as JSON.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case float64:
		switch {
		case math.IsNaN(x):
			return ".nan"
		case math.IsInf(x, 1):
			return ".inf"
		case math.IsInf(x, -1):
			return "-.inf"
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int, int64, uint64, bool:
		return fmt.Sprint(x)
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// jsonFields maps the JSON names of t's fields to their types, and lists
// the names in declaration order.
func jsonFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

// fieldType returns the type of the field at the dotted path parts below
// t, or nil when the path names no field.
func fieldType(t reflect.Type, parts []string) reflect.Type {
	for _, p := range parts {
		if t.Kind() != reflect.Struct {
			return nil
		}
		fields, _ := jsonFields(t)
		if t = fields[p]; t == nil {
			return nil
		}
	}
	return t
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
