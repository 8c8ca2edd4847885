package launch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
)

// The tests' workers are this test binary run again with envTestRole set:
// TestMain then plays the role instead of running tests.
const envTestRole = "FDSM_TEST_ROLE"

// Knobs of the fake worker, set through Config.Env.
const (
	envFakeExit         = "FAKE_EXIT"          // exit code of "fail"
	envFakeFailLocal    = "FAKE_FAIL_LOCAL"    // only this local rank fails; the others sleep
	envFakeSucceedAfter = "FAKE_SUCCEED_AFTER" // "fail" exits 0 from this restart count on
	envFakePidDir       = "FAKE_PID_DIR"       // "sleep" writes <local>.pid (and <local>.child.pid) here
	envFakeIgnoreTerm   = "FAKE_IGNORE_TERM"   // "sleep" ignores SIGTERM and SIGINT
	envFakeGrandchild   = "FAKE_GRANDCHILD"    // "sleep" starts a grandchild in its group
	envFakeWaitFor      = "FAKE_WAIT_FOR"      // "fail" waits for this file before failing
	envFakeSignalExit   = "FAKE_SIGNAL_EXIT"   // "sleep" exits with this code on SIGTERM/SIGINT (default 0)
)

// fakeLifetime bounds every sleeping fake so a broken test leaks nothing for long.
const fakeLifetime = 60 * time.Second

var testRoles = map[string]func() int{
	"env":   roleEnv,
	"fail":  roleFail,
	"sleep": roleSleep,
	"child": func() int { time.Sleep(fakeLifetime); return 0 },
	// "launcher" runs Run itself with two sleeping workers, for the test
	// that kills the launcher.
	"launcher": func() int {
		err := Run(context.Background(), Config{
			NProcPerNode: 2, Job: "orphans", Host: "127.0.0.1", GossipPortBase: AnyPort,
			LogDir: os.Getenv(envFakePidDir), Executable: os.Args[0], Command: []string{"-test.run=^$"},
			Env: []string{envTestRole + "=sleep"},
		})
		fmt.Println(err)
		return 1
	},
}

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

// roleEnv prints the variables the launcher manages.
func roleEnv() int {
	for _, k := range []string{
		cluster.EnvJob, cluster.EnvSeeds, cluster.EnvHost, cluster.EnvNodeRank, cluster.EnvLocalRank,
		cluster.EnvLocalWorldSize, cluster.EnvMinWorld, cluster.EnvMaxWorld, cluster.EnvGossipAddr,
		cluster.EnvDataAddr, cluster.EnvRestartCount, cluster.EnvWorkerLogPrefix, bus.EnvNATSURL,
		cluster.EnvRank, cluster.EnvTorchLocalRank, cluster.EnvWorldSize, cluster.EnvTorchLocalWS,
		cluster.EnvMasterAddr, cluster.EnvMasterPort, cluster.EnvTorchRestarts,
	} {
		if v, ok := os.LookupEnv(k); ok {
			fmt.Printf("%s=%s\n", k, v)
		} else {
			fmt.Printf("%s unset\n", k)
		}
	}
	return 0
}

// roleFail prints 30 numbered lines and exits with FAKE_EXIT (default 3),
// unless it is not the failing local rank (then it sleeps) or its restart
// count reached FAKE_SUCCEED_AFTER.
func roleFail() int {
	if l := os.Getenv(envFakeFailLocal); l != "" && l != os.Getenv(cluster.EnvLocalRank) {
		return roleSleep()
	}
	if path := os.Getenv(envFakeWaitFor); path != "" {
		// Fail only once a sibling is up, so the test knows what it stops.
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			if _, err := os.Stat(path); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	restarts, _ := strconv.Atoi(os.Getenv(cluster.EnvRestartCount))
	if s := os.Getenv(envFakeSucceedAfter); s != "" {
		if n, _ := strconv.Atoi(s); restarts >= n {
			fmt.Println("fine this time")
			return 0
		}
	}
	for i := 1; i <= 30; i++ {
		fmt.Printf("boom %d (restart %d)\n", i, restarts)
	}
	fmt.Fprintln(os.Stderr, "fatal: the real error")
	code := 3
	if s := os.Getenv(envFakeExit); s != "" {
		code, _ = strconv.Atoi(s)
	}
	return code
}

// roleSleep records its pid, then waits for a signal: it reports SIGTERM or
// SIGINT in its log and exits 0 (FAKE_SIGNAL_EXIT: that code), or ignores
// them with FAKE_IGNORE_TERM.
func roleSleep() int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	local := os.Getenv(cluster.EnvLocalRank)
	dir := os.Getenv(envFakePidDir)
	if os.Getenv(envFakeGrandchild) != "" {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), envTestRole+"=child")
		if err := c.Start(); err != nil {
			fmt.Println("start grandchild:", err)
			return 1
		}
		writePid(filepath.Join(dir, local+".child.pid"), c.Process.Pid)
	}
	if dir != "" {
		writePid(filepath.Join(dir, local+".pid"), os.Getpid())
	}
	fmt.Println("sleeping")
	deadline := time.After(fakeLifetime)
	for {
		select {
		case s := <-sigs:
			fmt.Printf("got %v\n", s)
			if os.Getenv(envFakeIgnoreTerm) == "" {
				code, _ := strconv.Atoi(os.Getenv(envFakeSignalExit))
				return code
			}
		case <-deadline:
			return 9
		}
	}
}

// writePid writes atomically, so a test never reads half a file.
func writePid(path string, pid int) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err == nil {
		_ = os.Rename(tmp, path)
	}
}
