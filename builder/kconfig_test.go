package builder

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExplainDeps(t *testing.T) {
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "arch", "x86", "kvm"), 0o755)
	os.MkdirAll(filepath.Join(tree, "arch", "arm64", "kvm"), 0o755)
	writeFile(t, filepath.Join(tree, "arch", "arm64", "kvm"), "Kconfig", "config KVM\n\tdepends on ARM64_ONLY\n")
	writeFile(t, filepath.Join(tree, "arch", "x86", "kvm"), "Kconfig", `menuconfig VIRTUALIZATION
	bool "Virtualization"
	help
	  if you say Y here, more options appear.

if VIRTUALIZATION

config KVM
	tristate "KVM"
	depends on X86_LOCAL_APIC && !UML
	depends on NET || COMPILE_TEST
	help
	  KVM.

endif # VIRTUALIZATION

config OTHER
	bool "other"
	depends on KVM
`)
	final := map[string]string{"CONFIG_X86_LOCAL_APIC": "y", "CONFIG_UML": notSet}
	got := explainDeps(tree, "x86", "KVM", final)
	want := "defined at arch/x86/kvm/Kconfig:8, depends on VIRTUALIZATION (not set), NET || COMPILE_TEST"
	if got != want {
		t.Errorf("explainDeps(KVM) =\n%q\nwant\n%q", got, want)
	}
	if got := explainDeps(tree, "x86", "OTHER", final); got != "defined at arch/x86/kvm/Kconfig:17, depends on KVM (not set)" {
		t.Errorf("explainDeps(OTHER) = %q", got)
	}
	if got := explainDeps(tree, "x86", "NOPE", final); got != "no symbol NOPE in the tree's Kconfig files: misspelt, or not in this kernel version" {
		t.Errorf("explainDeps(NOPE) = %q", got)
	}
}
