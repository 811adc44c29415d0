// Package ci holds the tests of the CI examples in this directory: the
// GitHub Actions workflow is linted with actionlint (and shellcheck), the
// Kubernetes manifests are decoded strictly into the Kubernetes API's own
// types, and the shell scripts inside both are run against a stand-in
// kvmtest (and kubectl), so that the examples cannot rot. The heavy
// modules these tests use stay out of the kvmtest binary
// (TestBinaryLinksNoTestOnlyModule).
package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubKvmtest is a stand-in kvmtest: it appends its arguments, one call a
// line, to $STUB_LOG, and its parent's process id to $STUB_LOG.ppid; run exits $STUB_RUN_EXIT, merge writes
// --out/run.json and exits $STUB_MERGE_EXIT, report prints a line.
const stubKvmtest = `#!/bin/bash
printf '%s\n' "$*" >> "$STUB_LOG"
echo "$PPID" >> "$STUB_LOG.ppid"
case $1 in
run) exit "${STUB_RUN_EXIT:-0}" ;;
merge)
	while [ $# -gt 0 ]; do
		if [ "$1" = --out ]; then mkdir -p "$2" && echo '{}' > "$2/run.json"; fi
		shift
	done
	exit "${STUB_MERGE_EXIT:-0}" ;;
report) echo "# kvmtest report"; exit 0 ;;
esac
exit 99
`

// stub writes an executable script named name into dir.
func stub(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// shellRun is one run of a shell script.
type shellRun struct {
	code   int
	output string   // standard output and error
	calls  []string // the stubs' calls, "ARG ARG..." each
	ppids  []string // the process ids of the stand-in kvmtest's parents
}

// runShell runs argv (a shell and its options; the script is given
// with them) in dir with env added to a minimal environment, stubDir first
// on PATH, and STUB_LOG set.
func runShell(t *testing.T, dir, stubDir string, env map[string]string, argv ...string) shellRun {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	log := filepath.Join(t.TempDir(), "calls")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + stubDir + ":/usr/local/bin:/usr/bin:/bin", "STUB_LOG=" + log, "HOME=" + t.TempDir(), "LC_ALL=C"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	r := shellRun{output: string(out)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", argv, err)
	}
	if b, err := os.ReadFile(log); err == nil {
		r.calls = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	if b, err := os.ReadFile(log + ".ppid"); err == nil {
		r.ppids = strings.Fields(string(b))
	}
	return r
}

// calledWith reports the calls whose words start with prefix.
func (r shellRun) calledWith(prefix string) []string {
	var out []string
	for _, c := range r.calls {
		if c == prefix || strings.HasPrefix(c, prefix+" ") {
			out = append(out, c)
		}
	}
	return out
}

// readFile reads a file of this directory.
func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBinaryLinksNoTestOnlyModule checks that the modules only these tests
// use (the Kubernetes API, actionlint) are not linked into kvmtest.
func TestBinaryLinksNoTestOnlyModule(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goCmd, "list", "-deps", "github.com/kvmtest/kvmtest/cmd/kvmtest").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %d packages: %q", len(deps), out)
	}
	for _, p := range deps {
		for _, heavy := range []string{"k8s.io/", "sigs.k8s.io/", "github.com/rhysd/actionlint"} {
			if strings.HasPrefix(p, heavy) {
				t.Errorf("cmd/kvmtest links %s: the CI examples' test-only modules must stay out of the binary", p)
			}
		}
	}
}
