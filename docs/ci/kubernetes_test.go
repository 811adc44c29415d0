package ci

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"
)

// The Kubernetes example's files.
const (
	volumesFile = "kubernetes-volumes.yaml"
	shardsFile  = "kubernetes-job.yaml"
	mergeFile   = "kubernetes-merge.yaml"
	driverFile  = "kubernetes-run.sh"
)

// decodeStrict decodes every YAML document of data into the Kubernetes
// API type its apiVersion and kind name, as the API server does with
// fieldValidation=Strict: an unknown field, a field spelt in another case
// and a field given twice are errors, and so is a kind this example does
// not use.
func decodeStrict(data []byte) ([]any, error) {
	var objs []any
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := sigsyaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if string(bytes.TrimSpace(js)) == "null" {
			continue // only comments
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "batch/v1 Job":
			obj = &batchv1.Job{}
		case "v1 PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		default:
			return nil, fmt.Errorf("document %d: unexpected apiVersion %q kind %q", n, tm.APIVersion, tm.Kind)
		}
		strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("document %d (%s): %w", n, tm.Kind, errors.Join(strict...))
		}
		objs = append(objs, obj)
	}
}

// loadJob decodes name, which must hold exactly one Job.
func loadJob(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	objs, err := decodeStrict(readFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(objs) != 1 {
		t.Fatalf("%s: %d objects, want one Job", name, len(objs))
	}
	j, ok := objs[0].(*batchv1.Job)
	if !ok {
		t.Fatalf("%s holds a %T, want a Job", name, objs[0])
	}
	return j
}

// theContainer is the Job's one container.
func theContainer(t *testing.T, j *batchv1.Job) *corev1.Container {
	t.Helper()
	if n := len(j.Spec.Template.Spec.Containers); n != 1 || len(j.Spec.Template.Spec.InitContainers) != 0 {
		t.Fatalf("job %s: %d containers (and %d init containers), want one", j.Name, n, len(j.Spec.Template.Spec.InitContainers))
	}
	return &j.Spec.Template.Spec.Containers[0]
}

// envOf is the container's environment (plain values only).
func envOf(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("container %s: env %s comes from elsewhere; the test gives only plain values", c.Name, e.Name)
		}
		env[e.Name] = e.Value
	}
	return env
}

// shardsOf is the SHARDS of the container's environment.
func shardsOf(t *testing.T, c *corev1.Container) int {
	t.Helper()
	n, err := strconv.Atoi(envOf(t, c)["SHARDS"])
	if err != nil || n < 1 {
		t.Fatalf("container %s: SHARDS %q is not a number of shards", c.Name, envOf(t, c)["SHARDS"])
	}
	return n
}

// shellArgv is how the container runs its script: the shell and its
// options after tini, the script last.
func shellArgv(t *testing.T, c *corev1.Container) []string {
	t.Helper()
	if len(c.Command) < 4 || c.Command[0] != "/usr/bin/tini" || c.Command[1] != "--" || c.Command[2] != "/bin/bash" || len(c.Args) != 1 {
		t.Fatalf("container %s: command %q args %d: want [/usr/bin/tini -- /bin/bash -c ...] and the script as the one argument", c.Name, c.Command, len(c.Args))
	}
	return append(append([]string{"bash"}, c.Command[3:]...), c.Args[0])
}

// mountOf is where the container mounts the named volume ("" if not).
func mountOf(c *corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

// claimOf is the claim of the Job's pod volume named volume.
func claimOf(j *batchv1.Job, volume string) string {
	for _, v := range j.Spec.Template.Spec.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

// podFailureAction is what the Job controller does with a failed pod of
// j whose container exited with code exit (0: it did not fail) and which
// has the True conditions conds: the action of the first rule that
// matches, else Count, as the Job controller decides.
func podFailureAction(j *batchv1.Job, container string, exit int32, conds ...corev1.PodConditionType) batchv1.PodFailurePolicyAction {
	if j.Spec.PodFailurePolicy != nil {
		for _, r := range j.Spec.PodFailurePolicy.Rules {
			if e := r.OnExitCodes; e != nil {
				if exit == 0 || (e.ContainerName != nil && *e.ContainerName != container) {
					continue
				}
				in := slices.Contains(e.Values, exit)
				if (e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
					return r.Action
				}
				continue
			}
			for _, p := range r.OnPodConditions {
				if slices.Contains(conds, p.Type) && (p.Status == "" || p.Status == corev1.ConditionTrue) {
					return r.Action
				}
			}
		}
	}
	return batchv1.PodFailurePolicyActionCount
}

// checkPodFailurePolicy checks what the API server's validation checks of
// a Job's podFailurePolicy, so that the example is not refused.
func checkPodFailurePolicy(t *testing.T, j *batchv1.Job) {
	t.Helper()
	p := j.Spec.PodFailurePolicy
	if p == nil {
		return
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("job %s: podFailurePolicy needs restartPolicy Never, not %q", j.Name, j.Spec.Template.Spec.RestartPolicy)
	}
	var names []string
	for _, c := range j.Spec.Template.Spec.Containers {
		names = append(names, c.Name)
	}
	for i, r := range p.Rules {
		if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
			t.Errorf("job %s: rule %d: exactly one of onExitCodes and onPodConditions", j.Name, i)
		}
		switch r.Action {
		case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount:
		case batchv1.PodFailurePolicyActionFailIndex:
			if j.Spec.BackoffLimitPerIndex == nil {
				t.Errorf("job %s: rule %d: FailIndex needs backoffLimitPerIndex", j.Name, i)
			}
		default:
			t.Errorf("job %s: rule %d: unknown action %q", j.Name, i, r.Action)
		}
		if e := r.OnExitCodes; e != nil {
			if e.ContainerName != nil && !slices.Contains(names, *e.ContainerName) {
				t.Errorf("job %s: rule %d: no container %q", j.Name, i, *e.ContainerName)
			}
			if e.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn && e.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn {
				t.Errorf("job %s: rule %d: operator %q", j.Name, i, e.Operator)
			}
			if len(e.Values) == 0 || !slices.IsSorted(e.Values) || len(slices.Compact(slices.Clone(e.Values))) != len(e.Values) {
				t.Errorf("job %s: rule %d: values %v: want some, ordered, no repeats", j.Name, i, e.Values)
			}
			if e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(e.Values, 0) {
				t.Errorf("job %s: rule %d: 0 cannot be In", j.Name, i)
			}
		}
		for _, c := range r.OnPodConditions {
			if c.Status != "" && c.Status != corev1.ConditionTrue && c.Status != corev1.ConditionFalse && c.Status != corev1.ConditionUnknown {
				t.Errorf("job %s: rule %d: condition status %q", j.Name, i, c.Status)
			}
		}
	}
}

func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, name := range []string{volumesFile, shardsFile, mergeFile} {
		objs, err := decodeStrict(readFile(t, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, o := range objs {
			kinds[fmt.Sprintf("%T", o)]++
		}
	}
	if kinds["*v1.Job"] != 2 || kinds["*v1.PersistentVolumeClaim"] != 2 {
		t.Errorf("decoded %v: want the shards' Job, the merge Job and two volume claims", kinds)
	}
}

// TestStrictDecodingRefusesMistakes makes sure the decoding above would
// catch what rots an example: a misspelt field, a field in the wrong
// case, a field given twice, a kind it does not know.
func TestStrictDecodingRefusesMistakes(t *testing.T) {
	good := string(readFile(t, shardsFile))
	if _, err := decodeStrict([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, old, new string }{
		{"a misspelt field", "  backoffLimitPerIndex: 1\n", "  backoffLimitPerIndx: 1\n"},
		{"a field in another case", "  backoffLimitPerIndex: 1\n", "  backofflimitperindex: 1\n"},
		{"a field twice", "  backoffLimitPerIndex: 1\n", "  backoffLimitPerIndex: 1\n  backoffLimitPerIndex: 2\n"},
		{"a field at the wrong level", "  completions: 4", "  restartPolicy: Never\n  completions: 4"},
		{"an unknown kind", "kind: Job\n", "kind: CronJob\n"},
	} {
		bad := strings.Replace(good, tc.old, tc.new, 1)
		if bad == good {
			t.Fatalf("%s: %q is not in %s", tc.what, tc.old, shardsFile)
		}
		if _, err := decodeStrict([]byte(bad)); err == nil {
			t.Errorf("%s: decoded without an error", tc.what)
		} else {
			t.Logf("%s: %v", tc.what, err)
		}
	}
}

func TestKubernetesShardsJob(t *testing.T) {
	j := loadJob(t, shardsFile)
	s := j.Spec
	c := theContainer(t, j)
	n := shardsOf(t, c)
	checkPodFailurePolicy(t, j)

	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed (JOB_COMPLETION_INDEX picks the shard)", s.CompletionMode)
	}
	if s.Completions == nil || int(*s.Completions) != n {
		t.Errorf("completions %v, want SHARDS = %d: one index per shard", s.Completions, n)
	}
	if s.Parallelism != nil && (*s.Parallelism < 1 || *s.Parallelism > *s.Completions) {
		t.Errorf("parallelism %d, want 1..%d", *s.Parallelism, n)
	}
	if s.BackoffLimitPerIndex == nil {
		t.Fatal("no backoffLimitPerIndex: a failed shard would count against the whole Job's backoffLimit")
	}
	if s.BackoffLimit != nil {
		t.Errorf("backoffLimit %d: with backoffLimitPerIndex leave it unset (unlimited), or the failures of some shards stop the others", *s.BackoffLimit)
	}
	if s.MaxFailedIndexes != nil && *s.MaxFailedIndexes < *s.Completions {
		t.Errorf("maxFailedIndexes %d < completions %d: shards finding unexpected results would terminate the others", *s.MaxFailedIndexes, *s.Completions)
	}

	// What each kvmtest exit status does to the shard's index.
	for _, tc := range []struct {
		exit  int32
		conds []corev1.PodConditionType
		want  batchv1.PodFailurePolicyAction
		why   string
	}{
		{1, nil, batchv1.PodFailurePolicyActionFailIndex, "unexpected results are a result: that index only, not retried"},
		{2, nil, batchv1.PodFailurePolicyActionFailJob, "bad input: every shard would say so"},
		{3, nil, batchv1.PodFailurePolicyActionCount, "infrastructure: worth one more try"},
		{130, nil, batchv1.PodFailurePolicyActionCount, "interrupted: worth one more try"},
		{137, nil, batchv1.PodFailurePolicyActionCount, "killed (OOM): worth one more try"},
		{130, []corev1.PodConditionType{corev1.DisruptionTarget}, batchv1.PodFailurePolicyActionIgnore, "evicted or preempted: replaced, not counted"},
		{1, []corev1.PodConditionType{corev1.DisruptionTarget}, batchv1.PodFailurePolicyActionIgnore, "evicted: replaced, not counted"},
	} {
		if got := podFailureAction(j, c.Name, tc.exit, tc.conds...); got != tc.want {
			t.Errorf("exit %d %v: %s, want %s (%s)", tc.exit, tc.conds, got, tc.want, tc.why)
		}
	}
	if got := podFailureAction(j, c.Name, 1); got == batchv1.PodFailurePolicyActionFailJob || got == batchv1.PodFailurePolicyActionIgnore {
		t.Errorf("exit 1 is %s: it must neither stop the other shards nor be retried forever", got)
	}

	// /dev/kvm, as a device, in an unprivileged container.
	kvm := corev1.ResourceName("devices.kubevirt.io/kvm")
	if q, ok := c.Resources.Limits[kvm]; !ok || q.Value() != 1 {
		t.Errorf("limits %v: want %s: 1 (/dev/kvm from the KVM device plugin)", c.Resources.Limits, kvm)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("securityContext %+v: want privileged false and allowPrivilegeEscalation false (the device plugin gives /dev/kvm)", sc)
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", j.Spec.Template.Spec.RestartPolicy)
	}

	// The volumes: the cache where KVMTEST_CACHE points, the results
	// where RESULTS does, both the claims of kubernetes-volumes.yaml.
	env := envOf(t, c)
	claims := volumeClaims(t)
	for vol, dir := range map[string]string{"cache": env["KVMTEST_CACHE"], "results": env["RESULTS"]} {
		m := mountOf(c, vol)
		if m == "" || dir == "" || (dir != m && !strings.HasPrefix(dir, m+"/")) {
			t.Errorf("volume %s mounted at %q, used at %q", vol, m, dir)
		}
		claim := claimOf(j, vol)
		if pvc, ok := claims[claim]; !ok {
			t.Errorf("volume %s: claim %q is not in %s", vol, claim, volumesFile)
		} else if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
			t.Errorf("claim %s: access modes %v: every shard mounts it at once, want ReadWriteMany", claim, pvc.Spec.AccessModes)
		}
	}
}

// volumeClaims are the claims of kubernetes-volumes.yaml by name.
func volumeClaims(t *testing.T) map[string]*corev1.PersistentVolumeClaim {
	t.Helper()
	objs, err := decodeStrict(readFile(t, volumesFile))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*corev1.PersistentVolumeClaim{}
	for _, o := range objs {
		if p, ok := o.(*corev1.PersistentVolumeClaim); ok {
			m[p.Name] = p
		}
	}
	return m
}

// TestKubernetesShardScript runs the shards' script, index by index, with
// a stand-in kvmtest: index K runs --shard K+1/N into RESULTS/share-K+1,
// from scratch, and its exit status is kvmtest's (what podFailurePolicy
// sees).
func TestKubernetesShardScript(t *testing.T) {
	j := loadJob(t, shardsFile)
	c := theContainer(t, j)
	n := shardsOf(t, c)
	bin := t.TempDir()
	stub(t, bin, "kvmtest", stubKvmtest)
	results := t.TempDir()
	for i := range n {
		env := envOf(t, c)
		env["RESULTS"] = results
		env["JOB_COMPLETION_INDEX"] = strconv.Itoa(i)
		stale := filepath.Join(results, fmt.Sprintf("share-%d", i+1), "stale")
		os.MkdirAll(filepath.Dir(stale), 0o755)
		os.WriteFile(stale, nil, 0o644)
		for _, code := range []int{0, 1, 3} {
			env["STUB_RUN_EXIT"] = strconv.Itoa(code)
			r := runShell(t, t.TempDir(), bin, env, shellArgv(t, c)...)
			if r.code != code {
				t.Errorf("index %d, kvmtest exit %d: the pod exits %d; output:\n%s", i, code, r.code, r.output)
			}
			want := fmt.Sprintf("run --shard %d/%d --out %s/share-%d", i+1, n, results, i+1)
			if len(r.calls) != 1 || r.calls[0] != want {
				t.Errorf("index %d: kvmtest called %q, want %q", i, r.calls, want)
			}
			// exec: kvmtest replaces the shell, so that tini's SIGTERM
			// reaches it (it then writes its results and exits 130).
			if pid := strconv.Itoa(os.Getpid()); len(r.ppids) != 1 || r.ppids[0] != pid {
				t.Errorf("index %d: kvmtest's parent is %q, not tini (here the test, %s): the script must exec it", i, r.ppids, pid)
			}
		}
		if _, err := os.Stat(stale); err == nil {
			t.Errorf("index %d: an earlier try's results are still in its share", i)
		}
	}
}

// TestKubernetesMergeJob checks that the merge reads what the shards
// write, every shard of them, and reports.
func TestKubernetesMergeJob(t *testing.T) {
	shards := loadJob(t, shardsFile)
	merge := loadJob(t, mergeFile)
	checkPodFailurePolicy(t, merge)
	sc, mc := theContainer(t, shards), theContainer(t, merge)
	n := shardsOf(t, mc)
	if int(*shards.Spec.Completions) != n {
		t.Errorf("the merge's SHARDS %d, the shards' completions %d", n, *shards.Spec.Completions)
	}
	if merge.Spec.CompletionMode != nil && *merge.Spec.CompletionMode == batchv1.IndexedCompletion ||
		merge.Spec.Completions != nil && *merge.Spec.Completions != 1 {
		t.Error("the merge is one pod")
	}
	if merge.Spec.BackoffLimit == nil || *merge.Spec.BackoffLimit != 0 {
		t.Errorf("merge backoffLimit %v, want 0: its exit status is a verdict, running it again gives the same", merge.Spec.BackoffLimit)
	}
	if mc.Image != sc.Image {
		t.Errorf("merge image %q, shards' %q", mc.Image, sc.Image)
	}
	if envOf(t, mc)["RESULTS"] != envOf(t, sc)["RESULTS"] || mountOf(mc, "results") != mountOf(sc, "results") || claimOf(merge, "results") != claimOf(shards, "results") {
		t.Error("the merge does not see the shards' results where they write them")
	}

	bin := t.TempDir()
	stub(t, bin, "kvmtest", stubKvmtest)
	for _, tc := range []struct {
		missing   int // a shard with no run.json, 0 for none
		mergeExit int
		want      int
	}{
		{0, 0, 0}, {0, 1, 1}, {0, 3, 3}, {0, 130, 130}, {0, 2, 2},
		{3, 0, 3}, {3, 1, 3}, {3, 130, 130},
	} {
		results := t.TempDir()
		var shares []string
		for i := 1; i <= n; i++ {
			d := filepath.Join(results, fmt.Sprintf("share-%d", i))
			os.MkdirAll(d, 0o755)
			if i == tc.missing {
				continue
			}
			os.WriteFile(filepath.Join(d, "run.json"), []byte("{}"), 0o644)
			shares = append(shares, d)
		}
		os.MkdirAll(filepath.Join(results, "merged"), 0o755) // an earlier merge's
		os.WriteFile(filepath.Join(results, "merged", "run.json"), []byte("{}"), 0o644)
		env := envOf(t, mc)
		env["RESULTS"] = results
		env["STUB_MERGE_EXIT"] = strconv.Itoa(tc.mergeExit)
		r := runShell(t, t.TempDir(), bin, env, shellArgv(t, mc)...)
		name := fmt.Sprintf("shard %d missing, merge exit %d", tc.missing, tc.mergeExit)
		if r.code != tc.want {
			t.Errorf("%s: the pod exits %d, want %d; output:\n%s", name, r.code, tc.want, r.output)
		}
		wantMerge := "merge " + strings.Join(shares, " ") + " --out " + results + "/merged"
		if got := r.calledWith("merge"); len(got) != 1 || got[0] != wantMerge {
			t.Errorf("%s: kvmtest called %q, want %q", name, r.calls, wantMerge)
		}
		if got := r.calledWith("report"); len(got) != 1 || got[0] != "report "+results+"/merged" {
			t.Errorf("%s: report calls %q, want one of the merged run", name, got)
		}
		if !strings.Contains(r.output, "# kvmtest report") {
			t.Errorf("%s: the report is not in the pod's log:\n%s", name, r.output)
		}
		if tc.missing != 0 && !strings.Contains(r.output, fmt.Sprintf("shard %d/%d left no results", tc.missing, n)) {
			t.Errorf("%s: the missing shard is not named:\n%s", name, r.output)
		}
	}
}

// stubKubectl is a stand-in kubectl for kubernetes-run.sh: it logs its
// calls; `get job NAME` prints no condition the first time, then
// $STUB_STATE_NAME (with - as _); `get pods` prints $STUB_MERGE_EXIT.
const stubKubectl = `#!/bin/bash
printf '%s\n' "$*" >> "$STUB_LOG"
case "$1 $2" in
"get job")
	case $* in *failedIndexes*) echo "0,2"; exit 0 ;; esac
	f="$STUB_DIR/polls-$3"
	n=$(cat "$f" 2>/dev/null || echo 0)
	echo $((n + 1)) > "$f"
	var="STUB_STATE_${3//-/_}"
	if [ "$n" -ge 1 ] && [ -n "${!var}" ]; then echo "${!var}"; fi ;;
"get pods") echo "$STUB_MERGE_EXIT" ;;
"logs job/kvmtest-merge") echo "# kvmtest report" ;;
esac
exit 0
`

// TestKubernetesDriver runs kubernetes-run.sh against a stand-in kubectl:
// the merge starts only once the shards' Job has finished, whether it is
// Complete or Failed, and the script exits with the merge's status.
func TestKubernetesDriver(t *testing.T) {
	bin := t.TempDir()
	stub(t, bin, "kubectl", stubKubectl)
	driver, err := filepath.Abs(driverFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		shards, merge, mergeExit string
		timeout                  string
		want                     int
	}{
		{"Complete", "Complete", "", "60", 0},
		{"Failed", "Failed", "1", "60", 1}, // the default matrix: v1's regression
		{"Failed", "Failed", "3", "60", 3},
		{"Failed", "Failed", "", "60", 3}, // no exit status to be found
		{"", "", "", "0", 3},              // the shards never finish
	} {
		name := fmt.Sprintf("shards %q merge %q exit %q", tc.shards, tc.merge, tc.mergeExit)
		env := map[string]string{"STUB_DIR": t.TempDir(), "STUB_STATE_kvmtest": tc.shards, "STUB_STATE_kvmtest_merge": tc.merge,
			"STUB_MERGE_EXIT": tc.mergeExit, "KVMTEST_K8S_POLL": "0", "KVMTEST_K8S_TIMEOUT": tc.timeout}
		r := runShell(t, t.TempDir(), bin, env, "bash", driver)
		if r.code != tc.want {
			t.Errorf("%s: exit %d, want %d; output:\n%s", name, r.code, tc.want, r.output)
		}
		idx := func(prefix string) int {
			return slices.IndexFunc(r.calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
		}
		lastShardPoll := -1
		for i, c := range r.calls {
			if strings.HasPrefix(c, "get job kvmtest -o jsonpath={range") {
				lastShardPoll = i
			}
		}
		for _, c := range r.calls {
			if f, ok := strings.CutPrefix(c, "apply -f "); ok {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("%s: applies %s, which is not here", name, f)
				}
			}
		}
		vol, del, job, mrg := idx("apply -f "+volumesFile), idx("delete job kvmtest kvmtest-merge"), idx("apply -f "+shardsFile), idx("apply -f "+mergeFile)
		if vol < 0 || del < vol || job < del || lastShardPoll < job {
			t.Errorf("%s: calls %q: want the volumes, the old Jobs deleted, the shards' Job, then waiting for it", name, r.calls)
		}
		if tc.shards == "" {
			if mrg >= 0 {
				t.Errorf("%s: the merge started though the shards never finished", name)
			}
			continue
		}
		if mrg < lastShardPoll {
			t.Errorf("%s: calls %q: the merge started before the shards had finished", name, r.calls)
		}
		if logs := idx("logs job/kvmtest-merge"); logs < mrg || !strings.Contains(r.output, "# kvmtest report") {
			t.Errorf("%s: the merge's log (the report) is not printed: %q\n%s", name, r.calls, r.output)
		}
	}
}

// TestDockerfile checks that the image the manifests name is the one
// docs/ci/Dockerfile builds, that it installs what install-deps.sh does,
// builds kvmtest, and has the tini the manifests start.
func TestDockerfile(t *testing.T) {
	df := string(readFile(t, "Dockerfile"))
	tag := regexp.MustCompile(`docker build -f docs/ci/Dockerfile -t (\S+) \.`).FindStringSubmatch(df)
	if tag == nil {
		t.Fatal("the Dockerfile does not say how to build it (docker build -f docs/ci/Dockerfile -t TAG .)")
	}
	for _, f := range []string{shardsFile, mergeFile} {
		if img := theContainer(t, loadJob(t, f)).Image; img != tag[1] {
			t.Errorf("%s runs image %q, the Dockerfile builds %q", f, img, tag[1])
		}
	}
	for _, want := range []string{
		"FROM debian:12",
		"bash /tmp/install-deps.sh",
		"go build -trimpath -buildvcs=false -o /usr/local/bin/kvmtest ./cmd/kvmtest",
		"go list -deps -test ./guest/...",
		" tini ",
		`ENTRYPOINT ["/usr/bin/tini", "--"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	for _, m := range regexp.MustCompile(`--mount=type=bind,source=(\S+?),`).FindAllStringSubmatch(df, -1) {
		if _, err := os.Stat(filepath.Join("..", "..", m[1])); err != nil {
			t.Errorf("the Dockerfile mounts %s from the checkout: %v", m[1], err)
		}
	}
	ignore := strings.Fields(string(readFile(t, "Dockerfile.dockerignore")))
	if !slices.Contains(ignore, ".git") {
		t.Error("Dockerfile.dockerignore does not leave .git out of the build context")
	}
}
