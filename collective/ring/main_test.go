package ring

import (
	"fmt"
	"os"
	"testing"
)

// testRoles are programs a test can run in a child process: the test binary
// re-executes itself with FDSM_TEST_ROLE set (see startRole), so process
// tests need no separately built binary. Each test file registers its roles
// in an init function.
var testRoles = map[string]func() int{}

const envTestRole = "FDSM_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(envTestRole); role != "" {
		f, ok := testRoles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown test role %q\n", role)
			os.Exit(2)
		}
		os.Exit(f())
	}
	os.Exit(m.Run())
}
