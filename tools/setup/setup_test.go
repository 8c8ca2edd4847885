// Package setup tests the repository's setup.sh, the first command of the
// README, against stub system tools: it must work as root (no sudo, which a
// root-only machine lacks) and as a user with sudo, and fail clearly when
// it cannot become root.
package setup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubs are the fake system tools; each appends its command line to $LOG.
var stubs = map[string]string{
	"id":         `[ "$1" = -u ] && echo "$FAKE_UID"`,
	"dpkg-query": `for p in $FAKE_INSTALLED; do [ "$p" = "${@: -1}" ] && { echo "install ok installed"; exit 0; }; done; exit 1`,
	"apt-get":    `echo "apt-get uid=$FAKE_UID $*" >> "$LOG"`,
	"go":         `echo "go $*" >> "$LOG"; [ "$1 $2" = "env GOVERSION" ] && echo "${FAKE_GOVERSION:-go1.26.8}"; exit 0`,
	"make":       `echo "make $*" >> "$LOG"; mkdir -p bin; printf '#!/bin/sh\necho fdsm stub\n' > bin/fdsm; chmod +x bin/fdsm`,
}

// sudoStub runs its command "as root".
const sudoStub = `echo "sudo $*" >> "$LOG"; export FAKE_UID=0; exec "$@"`

// realTools are linked into the sandbox PATH; nothing else is reachable.
var realTools = []string{"bash", "sed", "sort", "head", "grep", "env", "dirname", "printf", "mkdir", "chmod", "cat"}

type result struct {
	out, log string
	err      error
}

// runSetup runs a copy of setup.sh with only the stubs and realTools on PATH.
func runSetup(t *testing.T, uid string, withSudo bool, installed string, args ...string) result {
	return runSetupEnv(t, uid, withSudo, installed, nil, args...)
}

func runSetupEnv(t *testing.T, uid string, withSudo bool, installed string, env []string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile("../../setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "setup.sh")
	if err := os.WriteFile(script, src, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "stubs")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range stubs {
		write(name, body)
	}
	if withSudo {
		write("sudo", sudoStub)
	}
	for _, tool := range realTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(dir, "log")
	cmd := exec.Command(filepath.Join(bin, "bash"), append([]string{script}, args...)...)
	cmd.Env = []string{"PATH=" + bin, "LOG=" + logPath, "FAKE_UID=" + uid, "FAKE_INSTALLED=" + installed, "HOME=" + dir}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(logPath)
	return result{string(out), string(log), err}
}

func TestSetupAsRootUsesNoSudo(t *testing.T) {
	r := runSetup(t, "0", false, "gcc")
	if r.err != nil {
		t.Fatalf("setup as root without sudo: %v\n%s", r.err, r.out)
	}
	if strings.Contains(r.log, "sudo") {
		t.Errorf("root ran sudo:\n%s", r.log)
	}
	for _, want := range []string{"apt-get uid=0 update", "apt-get uid=0 install -y -qq --no-install-recommends libopenblas-dev libturbojpeg0-dev g++ libc6-dev make pkg-config ca-certificates",
		"go mod download", "go mod verify", "make --no-print-directory build"} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log lacks %q:\n%s", want, r.log)
		}
	}
	if strings.Contains(r.log, "dataset-fashion-mnist") {
		t.Errorf("test data installed without --tests:\n%s", r.log)
	}
}

func TestSetupAsUserUsesSudo(t *testing.T) {
	r := runSetup(t, "1000", true, "", "--tests")
	if r.err != nil {
		t.Fatalf("setup as a user with sudo: %v\n%s", r.err, r.out)
	}
	for _, want := range []string{"sudo env DEBIAN_FRONTEND=noninteractive apt-get update", "apt-get uid=0 install",
		"dataset-fashion-mnist", "go mod download"} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log lacks %q:\n%s", want, r.log)
		}
	}
}

func TestSetupAsUserWithoutSudo(t *testing.T) {
	// Packages missing: a clear error naming the way out.
	r := runSetup(t, "1000", false, "")
	if r.err == nil || !strings.Contains(r.out, "run ./setup.sh as root, or install sudo") {
		t.Fatalf("err %v, output:\n%s", r.err, r.out)
	}
	if strings.Contains(r.log, "apt-get") || strings.Contains(r.log, "make") {
		t.Errorf("went on after failing to become root:\n%s", r.log)
	}
	// Packages present: nothing needs root.
	r = runSetup(t, "1000", false, "libopenblas-dev libturbojpeg0-dev gcc g++ libc6-dev make pkg-config ca-certificates")
	if r.err != nil || strings.Contains(r.log, "apt-get") || !strings.Contains(r.log, "make --no-print-directory build") {
		t.Fatalf("packages present: err %v\nlog:\n%s\noutput:\n%s", r.err, r.log, r.out)
	}
}

func TestSetupRejectsOldGoAndBadArguments(t *testing.T) {
	all := "libopenblas-dev libturbojpeg0-dev gcc g++ libc6-dev make pkg-config ca-certificates"
	r := runSetupEnv(t, "0", false, all, []string{"FAKE_GOVERSION=go1.22.2"})
	if r.err == nil || !strings.Contains(r.out, "Go 1.22.2") || !strings.Contains(r.out, "older than 1.26") {
		t.Fatalf("old Go: err %v, output:\n%s", r.err, r.out)
	}
	if strings.Contains(r.log, "make") {
		t.Errorf("built with an old Go:\n%s", r.log)
	}
	r = runSetup(t, "0", false, all, "--bogus")
	if r.err == nil || !strings.Contains(r.out, "unknown argument '--bogus'") {
		t.Fatalf("bad argument: err %v, output:\n%s", r.err, r.out)
	}
}

// TestReadmeCommands: the README's two commands are the set-up + main job
// and the tests, and CI runs the README's test command verbatim.
func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(readme), "```sh\n")[1:] {
		blocks = append(blocks, strings.TrimSpace(part[:strings.Index(part, "```")]))
	}
	if len(blocks) < 2 {
		t.Fatalf("README has %d sh blocks, want the main job and the tests first", len(blocks))
	}
	if want := "./setup.sh && ./bin/fdsm train --out runs/default"; blocks[0] != want {
		t.Errorf("README's first command %q, want %q", blocks[0], want)
	}
	test := blocks[1]
	if !strings.HasPrefix(test, "./setup.sh") || !strings.Contains(test, "make test") {
		t.Errorf("README's second command %q does not set up and run the tests", test)
	}
	if !strings.Contains(string(ci), "\n"+test+"\n") {
		t.Errorf(".ci/run does not run the README's test command %q", test)
	}
}
