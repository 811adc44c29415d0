package matrices

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// The requirements rule of a suite (docs/matrix.md, "suites" and "Kernel
// versions and constraints"): requires.kernel is a constraint on the
// kernel's version as CheckKernelVersion reads it (a release candidate sits
// between releases, distribution suffixes are dropped), requires.config a
// list of options the built .config must set, requires.arch the
// architectures whose cells run the suite. The run engine decides with
// KernelMeets, ConfigMeets and ArchMeets, Suite.Unmet and Suite.ArchUnmet
// explain with them: one rule.

// ArchMeets reports whether a cell of architecture cellArch (kvmtest's
// name, Cell.Arch) meets a requires.arch list: it is one of them, and
// every architecture meets an empty list.
func ArchMeets(cellArch string, required []string) bool {
	return len(required) == 0 || slices.Contains(required, cellArch)
}

// ArchUnmet returns why the suite does not run in a cell of architecture
// cellArch ("requires arch arm64, cell is x86_64"), or "" when it does
// (ArchMeets). It needs nothing of the kernel: the engine can skip the
// suite with this reason before the cell is built, and plan leaves the
// suite out of the cell's.
func (s *Suite) ArchUnmet(cellArch string) string {
	if ArchMeets(cellArch, s.Requires.Arch) {
		return ""
	}
	return fmt.Sprintf("requires arch %s, cell is %s", strings.Join(s.Requires.Arch, " or "), cellArch)
}

// KernelMeets reports whether a kernel version meets a requires.kernel
// constraint ("" is met by anything). 6.13-rc1 meets ">= 6.12", 6.12-rc3
// does not; 6.1.0-28-amd64 is 6.1.0 and 6.12.12+bpo-amd64 is 6.12.12. An
// unknown ("") or unreadable version is an error, and meets nothing.
func KernelMeets(kernelVersion, constraint string) (bool, error) {
	return CheckKernelVersion(constraint, kernelVersion)
}

// ParseKernelConfig reads a kernel .config into NAME -> value, the value as
// written after "=" ("y", "m", "\"str\"", "42"). Comments ("# CONFIG_X is
// not set" among them) and other lines are skipped: an option they name is
// absent. When a name is assigned twice the first assignment counts.
func ParseKernelConfig(data []byte) map[string]string {
	cfg := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			if _, seen := cfg[k]; !seen {
				cfg[k] = v
			}
		}
	}
	return cfg
}

// ConfigMeets reports whether a configuration (as ParseKernelConfig gives
// it) meets one requires.config entry: "CONFIG_X" means CONFIG_X=y,
// "CONFIG_X=VALUE" exactly that value. "CONFIG_X=m" means built as a
// module and the cell's kernel ships its modules: ConfigMeets judges the
// first half; whoever holds the kernel judges the second (ModuleOptions
// names the entries it applies to).
func ConfigMeets(kernelConfig map[string]string, req string) bool {
	name, want := configRequirement(req)
	got, set := kernelConfig[name]
	return set && got == want
}

// ModuleOptions returns the CONFIG_ names that reqs (requires.config
// entries) require as modules ("CONFIG_X=m"), in order: a cell meets them
// only when ConfigMeets does and its kernel ships its modules (a prebuilt
// image given without modules: does not).
func ModuleOptions(reqs []string) []string {
	var out []string
	for _, req := range reqs {
		if name, want := configRequirement(req); want == "m" {
			out = append(out, name)
		}
	}
	return out
}

// configRequirement splits a requires.config entry into the option's name
// and the value it must have.
func configRequirement(req string) (name, want string) {
	name, want, ok := strings.Cut(req, "=")
	if !ok {
		want = "y"
	}
	return name, want
}

// Unmet returns why the suite cannot run on a kernel of the given version
// with the given configuration, or "" when its requirements are met
// (KernelMeets, then ConfigMeets for each option). kernelConfig maps
// CONFIG_ names to values as they appear in .config (ParseKernelConfig);
// an option that is absent is not set. A nil kernelConfig skips the config
// requirements (as at plan time).
func (s *Suite) Unmet(kernelVersion string, kernelConfig map[string]string) string {
	if s.Requires.Kernel != "" {
		ok, err := KernelMeets(kernelVersion, s.Requires.Kernel)
		if err != nil {
			return fmt.Sprintf("requires kernel %s: %v", s.Requires.Kernel, err)
		}
		if !ok {
			return fmt.Sprintf("requires kernel %s, this one is %s", s.Requires.Kernel, kernelVersion)
		}
	}
	if kernelConfig == nil {
		return ""
	}
	var missing []string
	for _, req := range s.Requires.Config {
		if ConfigMeets(kernelConfig, req) {
			continue
		}
		name, want := configRequirement(req)
		if got, set := kernelConfig[name]; set {
			missing = append(missing, fmt.Sprintf("%s=%s (is %s)", name, want, got))
		} else {
			missing = append(missing, fmt.Sprintf("%s=%s (not set)", name, want))
		}
	}
	if len(missing) > 0 {
		return "requires " + strings.Join(missing, ", ")
	}
	return ""
}
