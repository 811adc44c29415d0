package ci

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

const workflowFile = "github-actions.yml"

// shellcheckPath is the shellcheck actionlint runs on the workflow's
// scripts: required under CI=true (scripts/install-deps.sh installs it),
// else that part is skipped with a message ("" returned).
func shellcheckPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("shellcheck")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("shellcheck is not installed (scripts/install-deps.sh installs it): CI must lint the workflow's scripts")
	}
	t.Log("shellcheck is not installed: the workflow's scripts are not shellchecked (scripts/install-deps.sh installs it)")
	return ""
}

func lint(t *testing.T, path string, src []byte, shellcheck string) []*actionlint.Error {
	t.Helper()
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Shellcheck: shellcheck, WorkingDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(path, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

// TestGitHubActionsLint lints the workflow with actionlint, and with
// shellcheck on its scripts.
func TestGitHubActionsLint(t *testing.T) {
	sc := shellcheckPath(t)
	if sc != "" {
		// The linter really runs shellcheck: the mistake the example once had.
		bad := []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo --shard $SHARDS\n")
		errs := lint(t, "bad.yml", bad, sc)
		if !slices.ContainsFunc(errs, func(e *actionlint.Error) bool { return strings.Contains(e.Message, "SC2086") }) {
			t.Fatalf("shellcheck through actionlint did not find SC2086 in an unquoted $SHARDS: %v", errs)
		}
	}
	for _, e := range lint(t, workflowFile, readFile(t, workflowFile), sc) {
		t.Errorf("%s:%d:%d: %s [%s]", workflowFile, e.Line, e.Column, e.Message, e.Kind)
	}
}

type ghWorkflow struct {
	Env      map[string]string
	Defaults struct {
		Run struct{ Shell string }
	}
	Jobs map[string]*ghJob
}

type ghJob struct {
	RunsOn    string `yaml:"runs-on"`
	Needs     string
	If        string
	Container struct{ Image, Options string }
	Strategy  struct {
		FailFast *bool `yaml:"fail-fast"`
		Matrix   struct{ Shard []int }
	}
	Steps []ghStep
}

type ghStep struct {
	Name, ID, Uses, Run, If string
	With                    map[string]string
	Env                     map[string]string
}

func loadWorkflow(t *testing.T) *ghWorkflow {
	t.Helper()
	var w ghWorkflow
	if err := yaml.Unmarshal(readFile(t, workflowFile), &w); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"run", "merge"} {
		if w.Jobs[name] == nil {
			t.Fatalf("no job %q", name)
		}
	}
	return &w
}

// step is the job's first step that uses the action (uses given) or
// whose script contains text.
func (j *ghJob) step(t *testing.T, uses, text string) (int, *ghStep) {
	t.Helper()
	for i := range j.Steps {
		s := &j.Steps[i]
		if uses != "" && strings.HasPrefix(s.Uses, uses+"@") || text != "" && strings.Contains(s.Run, text) {
			return i, s
		}
	}
	t.Fatalf("no step uses %q or runs %q", uses, text)
	return 0, nil
}

// runStep runs a step's script as GitHub runs it with shell: bash, in a
// workspace holding a stand-in bin/kvmtest.
func runStep(t *testing.T, s *ghStep, workspace string, env map[string]string) shellRun {
	t.Helper()
	stub(t, filepath.Join(workspace, "bin"), "kvmtest", stubKvmtest)
	script := filepath.Join(t.TempDir(), "step.sh")
	if err := os.WriteFile(script, []byte(s.Run), 0o644); err != nil {
		t.Fatal(err)
	}
	return runShell(t, workspace, t.TempDir(), env, "bash", "--noprofile", "--norc", "-eo", "pipefail", script)
}

func TestGitHubActionsShardJobs(t *testing.T) {
	w := loadWorkflow(t)
	if w.Defaults.Run.Shell != "bash" {
		t.Errorf("defaults.run.shell %q: the scripts are bash (and tested as GitHub runs shell: bash)", w.Defaults.Run.Shell)
	}
	j := w.Jobs["run"]
	if j.Container.Image != "debian:12" {
		t.Errorf("container %q: Debian's linux-source-6.12 and 6.1 are in debian:12", j.Container.Image)
	}
	if !slices.Contains(strings.Fields(j.Container.Options), "/dev/kvm") || !strings.Contains(j.Container.Options, "--device /dev/kvm") {
		t.Errorf("container options %q: want --device /dev/kvm", j.Container.Options)
	}
	if j.Strategy.FailFast == nil || *j.Strategy.FailFast {
		t.Error("fail-fast is not false: one shard's failure would cancel the others")
	}
	for i, s := range j.Strategy.Matrix.Shard {
		if s != i+1 {
			t.Fatalf("matrix shards %v: want 1..N", j.Strategy.Matrix.Shard)
		}
	}
	if len(j.Strategy.Matrix.Shard) < 2 {
		t.Errorf("matrix shards %v: not sharded", j.Strategy.Matrix.Shard)
	}
	goAt, _ := j.step(t, "actions/setup-go", "")
	depsAt, _ := j.step(t, "", "bash scripts/install-deps.sh")
	if goAt > depsAt {
		t.Error("install-deps.sh runs before Go is set up (it checks for Go)")
	}
	for _, job := range w.Jobs {
		for _, s := range job.Steps {
			if strings.Contains(s.Run, "${{") {
				t.Errorf("step %q: an expression inside a script (pass it in env:): %q", s.Name, s.Run)
			}
		}
	}

	_, run := j.step(t, "", "bin/kvmtest run")
	if run.Env["SHARD"] != "${{ matrix.shard }}/${{ strategy.job-total }}" {
		t.Errorf("SHARD %q: want ${{ matrix.shard }}/${{ strategy.job-total }}", run.Env["SHARD"])
	}
	_, up := j.step(t, "actions/upload-artifact", "")
	if up.If != "always()" || up.With["name"] != "results-${{ matrix.shard }}" || up.With["path"] != "results" {
		t.Errorf("upload %+v: want if always(), name results-${{ matrix.shard }}, path results", up)
	}
	for _, tc := range []struct {
		exit, want int
		notice     bool
	}{{0, 0, false}, {1, 0, true}, {2, 2, false}, {3, 3, false}, {130, 130, false}} {
		ws := t.TempDir()
		out := filepath.Join(t.TempDir(), "output")
		r := runStep(t, run, ws, map[string]string{"SHARD": "2/4", "GITHUB_OUTPUT": out, "FAIL_ON_UNEXPECTED": "true", "STUB_RUN_EXIT": strconv.Itoa(tc.exit)})
		if r.code != tc.want {
			t.Errorf("kvmtest exit %d: the step exits %d, want %d; output:\n%s", tc.exit, r.code, tc.want, r.output)
		}
		if len(r.calls) != 1 || r.calls[0] != "run --shard 2/4 --out results" {
			t.Errorf("kvmtest called %q", r.calls)
		}
		if b, _ := os.ReadFile(out); string(b) != fmt.Sprintf("exit-code=%d\n", tc.exit) {
			t.Errorf("kvmtest exit %d: step output %q", tc.exit, b)
		}
		if got := strings.Contains(r.output, "::notice::"); got != tc.notice {
			t.Errorf("kvmtest exit %d: notice %v, want %v:\n%s", tc.exit, got, tc.notice, r.output)
		}
	}
}

func TestGitHubActionsMergeJob(t *testing.T) {
	w := loadWorkflow(t)
	j := w.Jobs["merge"]
	if j.Needs != "run" || !strings.Contains(j.If, "!cancelled()") {
		t.Errorf("merge needs %q if %q: want needs run, if !cancelled() (it runs when shards failed)", j.Needs, j.If)
	}
	if p := w.Env["FAIL_ON_UNEXPECTED"]; !strings.Contains(p, "vars.KVMTEST_FAIL_ON_UNEXPECTED") || !strings.Contains(p, "'true'") {
		t.Errorf("FAIL_ON_UNEXPECTED %q: want the repository variable, true by default", p)
	}
	_, dl := j.step(t, "actions/download-artifact", "")
	_, up := w.Jobs["run"].step(t, "actions/upload-artifact", "")
	prefix, _, _ := strings.Cut(up.With["name"], "${{")
	if dl.With["pattern"] != prefix+"*" || dl.With["path"] != "shares" || dl.With["merge-multiple"] == "true" {
		t.Errorf("download %+v: want pattern %s*, path shares, each shard in its own directory", dl.With, prefix)
	}
	_, m := j.step(t, "", "bin/kvmtest merge")
	if m.Env["RUN_RESULT"] != "${{ needs.run.result }}" {
		t.Errorf("RUN_RESULT %q: want ${{ needs.run.result }}", m.Env["RUN_RESULT"])
	}
	_, report := j.step(t, "actions/upload-artifact", "")
	if report.If != "always()" || report.With["path"] != "merged" {
		t.Errorf("report upload %+v: want if always(), path merged", report)
	}

	const n = 4
	for _, tc := range []struct {
		runResult string
		exit      int
		policy    string
		want      int
	}{
		{"success", 0, "true", 0},
		{"success", 1, "true", 1},
		{"success", 1, "false", 0},
		{"success", 2, "false", 2},
		{"success", 3, "false", 3},
		{"success", 130, "true", 130},
		{"failure", 0, "true", 3}, // a shard that left nothing: part of the matrix did not run
		{"failure", 1, "false", 3},
		{"failure", 130, "false", 130},
	} {
		name := fmt.Sprintf("shards %s, merge exit %d, FAIL_ON_UNEXPECTED=%s", tc.runResult, tc.exit, tc.policy)
		ws := t.TempDir()
		var shares []string
		for i := 1; i <= n; i++ {
			d := fmt.Sprintf("shares/%s%d", prefix, i)
			os.MkdirAll(filepath.Join(ws, d), 0o755)
			shares = append(shares, d)
		}
		r := runStep(t, m, ws, map[string]string{"RUN_RESULT": tc.runResult, "FAIL_ON_UNEXPECTED": tc.policy, "STUB_MERGE_EXIT": strconv.Itoa(tc.exit)})
		if r.code != tc.want {
			t.Errorf("%s: the step exits %d, want %d; output:\n%s", name, r.code, tc.want, r.output)
		}
		if want := "merge " + strings.Join(shares, " ") + " --out merged"; len(r.calls) != 1 || r.calls[0] != want {
			t.Errorf("%s: kvmtest called %q, want %q", name, r.calls, want)
		}
	}
}
