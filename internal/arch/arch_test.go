package arch

import (
	"runtime"
	"testing"
)

func TestByName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"x86_64", "x86_64"}, {"amd64", "x86_64"},
		{"arm64", "arm64"}, {"aarch64", "arm64"},
		{"riscv64", "riscv64"}, {"riscv", "riscv64"},
	} {
		a, ok := ByName(tc.in)
		if !ok || a.Name != tc.want {
			t.Errorf("ByName(%q) = %q, %v; want %q", tc.in, a.Name, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "x86", "i386", "ARM64", "mips"} {
		if a, ok := ByName(bad); ok {
			t.Errorf("ByName(%q) = %q, want unknown", bad, a.Name)
		}
	}
}

func TestNativeAndCross(t *testing.T) {
	for _, a := range archs {
		native := a.GOARCH == runtime.GOARCH
		if a.Native() != native {
			t.Errorf("%s: Native() = %v, want %v", a.Name, a.Native(), native)
		}
		vars := a.MakeVars()
		if vars[0] != "ARCH="+a.KernelArch {
			t.Errorf("%s: MakeVars %v", a.Name, vars)
		}
		if (len(vars) == 2) == native {
			t.Errorf("%s: MakeVars %v: CROSS_COMPILE only when foreign", a.Name, vars)
		}
		if cc, pk := a.Toolchain(); native != (cc == "gcc") || len(pk) == 0 {
			t.Errorf("%s: Toolchain() = %q %v", a.Name, cc, pk)
		}
	}
}

func TestUnknownErrorNamesChoices(t *testing.T) {
	if got := UnknownError("mips").Error(); got != `unknown architecture "mips" (kvmtest knows x86_64, arm64, riscv64)` {
		t.Error(got)
	}
}
