package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/matrices"
)

// TestRequirements: the suites a cell skips, by the built kernel's release
// (or the matrix's version when the build did not say) and its .config, as
// docs/matrix.md states the rule: a release candidate sits between
// releases, distribution suffixes are dropped.
func TestRequirements(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), ".config")
	if err := os.WriteFile(cfg, []byte("CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_HZ=250\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &matrices.Matrix{Suites: []*matrices.Suite{
		{Name: "any"},
		{Name: "new", Requires: matrices.Requires{Kernel: ">= 6.12"}},
		{Name: "old", Requires: matrices.Requires{Kernel: ">= 6.1, < 6.12"}},
		{Name: "cfg", Requires: matrices.Requires{Config: []string{"CONFIG_A", "CONFIG_B=m", "CONFIG_HZ=250"}}},
		{Name: "unset", Requires: matrices.Requires{Config: []string{"CONFIG_A", "CONFIG_C"}}},
		{Name: "module", Requires: matrices.Requires{Config: []string{"CONFIG_B"}}},
	}}
	const (
		newSkip = "requires kernel >= 6.12, cell has "
		oldSkip = "requires kernel >= 6.1, < 6.12, cell has "
	)
	modules := t.TempDir() // the artifact ships modules: CONFIG_B=m is met
	cfgSkips := map[string]string{
		"unset":  "requires CONFIG_C, not in the kernel config",
		"module": "requires CONFIG_B, not in the kernel config",
	}
	for _, tc := range []struct {
		declared, built string // the matrix's version, the build's kernelrelease
		unmet           string // "new" or "old": the version suite skipped
	}{
		{"6.13-rc1", "6.13.0-rc1", "old"}, // go-version alone says 6.13-rc1 < 6.12
		{"6.13", "6.13.0-rc1-00012-gdeadbeef", "old"},
		{"6.12", "6.12.0-rc3", "new"}, // a release candidate comes before its release
		{"6.12", "6.12.0-rc7-next-20241112", "new"},
		{"6.12", "6.12.0", "old"},
		{"6.12", "6.12.12+bpo-amd64", "old"},
		{"6.1", "6.1.0-28-amd64", "new"},
		{"6.1", "6.1.192-1~deb12u1", "new"},
		{"6.13-rc1", "", "old"}, // no kernelrelease: the declared version
		{"6.11", "", "new"},
	} {
		r := &cellRun{o: Options{Matrix: m}, mc: matrices.Cell{Kernel: &matrices.Kernel{Name: "k", Version: tc.declared}}}
		got := r.requirements(&builder.Artifact{Config: cfg, Modules: modules, Meta: builder.Meta{Version: tc.built}})
		kv := tc.built
		if kv == "" {
			kv = tc.declared
		}
		want := map[string]string{}
		for k, v := range cfgSkips {
			want[k] = v
		}
		if tc.unmet == "new" {
			want["new"] = newSkip + kv
		} else {
			want["old"] = oldSkip + kv
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("declared %q, built %q: skips %q, want %q", tc.declared, tc.built, got, want)
		}
	}
}

// TestRequirementsModule: a requirement CONFIG_X=m is met only when the
// kernel's artifact ships modules.
func TestRequirementsModule(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), ".config")
	if err := os.WriteFile(cfg, []byte("CONFIG_B=m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &matrices.Matrix{Suites: []*matrices.Suite{{Name: "cfg", Requires: matrices.Requires{Config: []string{"CONFIG_B=m"}}}}}
	r := &cellRun{o: Options{Matrix: m}, mc: matrices.Cell{Kernel: &matrices.Kernel{Name: "k", Version: "6.12"}}}
	if got := r.requirements(&builder.Artifact{Config: cfg}); got["cfg"] != "requires CONFIG_B=m: the kernel's config has it, but its artifact ships no modules" {
		t.Errorf("no modules: skips %q", got)
	}
	if got := r.requirements(&builder.Artifact{Config: cfg, Modules: t.TempDir()}); len(got) != 0 {
		t.Errorf("with modules: skips %q, want none", got)
	}
}
