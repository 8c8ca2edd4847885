package jobenv

import "testing"

func TestFirstHost(t *testing.T) {
	for list, want := range map[string]string{
		"node1":                  "node1",
		"gpu[07-08,11],cpu1":     "gpu07",
		"cpu1,gpu[07-08]":        "cpu1",
		"rack[1-2]-n[001-004]":   "rack1-n001",
		"a[3,5-6]-ib":            "a3-ib",
		" gpu[0100-0102] ":       "gpu0100",
		"login.cluster.org,n[1]": "login.cluster.org",
	} {
		if got, err := firstHost(list); err != nil || got != want {
			t.Errorf("firstHost(%q) = %q, %v; want %q", list, got, err, want)
		}
	}
	for _, bad := range []string{"", "gpu[07-", "gpu]07[", "gpu[[1]]", "gpu[a-b]", "gpu[]"} {
		if got, err := firstHost(bad); err == nil {
			t.Errorf("firstHost(%q) = %q, want an error", bad, got)
		}
	}
}

// TestKnown: the contract holds fdsm's variables, the other launchers' and
// the libraries'; nothing else.
func TestKnown(t *testing.T) {
	for _, name := range append(append([]string{GOMAXPROCS, CUDAVisibleDevices, "NCCL_DEBUG"}, own...), inputs...) {
		if !Known(name) {
			t.Errorf("%s is not known", name)
		}
	}
	for _, name := range []string{"FDSM_NO_SUCH", "PATH", "NCCL", "SLURM_CPUS_ON_NODE"} {
		if Known(name) {
			t.Errorf("%s is known", name)
		}
	}
}
