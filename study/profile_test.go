package study

import (
	"strings"
	"testing"
)

func TestBuiltinProfilesLoad(t *testing.T) {
	names := BuiltinProfiles()
	if len(names) < 2 {
		t.Fatalf("built-in profiles %v", names)
	}
	for _, n := range names {
		p, err := LoadProfile(n)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != n || len(p.Sources) == 0 {
			t.Errorf("%s: name %q, %d sources", n, p.Name, len(p.Sources))
		}
	}
	if _, err := LoadProfile("no-such-profile"); err == nil || !strings.Contains(err.Error(), "built-in") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestParseProfileIsStrict(t *testing.T) {
	good := `{"name": "x", "devices_per_node": 1, "sustained_gflops": 1, "algorithm": "ring",
		"intra": {"alpha_us": 1, "busbw_gbs": 1}, "inter": {"alpha_us": 1, "busbw_gbs": 1}}`
	if _, err := ParseProfile([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		strings.Replace(good, `"algorithm"`, `"algorythm"`, 1),
		strings.Replace(good, `"ring"`, `"star"`, 1),
		strings.Replace(good, `"devices_per_node": 1`, `"devices_per_node": 0`, 1),
	} {
		if _, err := ParseProfile([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
