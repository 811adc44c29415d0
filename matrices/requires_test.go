package matrices

import (
	"reflect"
	"testing"
)

// TestKernelMeets is the requires.kernel rule of docs/matrix.md on release
// candidates and distribution versions, through KernelMeets and Unmet.
func TestKernelMeets(t *testing.T) {
	for _, tc := range []struct {
		v, c string
		want bool
	}{
		{"6.13-rc1", ">= 6.12", true}, // after 6.12 (go-version alone says no)
		{"6.13.0-rc1", ">= 6.12", true},
		{"6.13-rc1", "< 6.13", true},
		{"6.12-rc3", ">= 6.12", false}, // before its release
		{"6.12-rc3", "< 6.12", true},
		{"6.12-rc3", ">= 6.12-rc1", true},
		{"6.12-rc10", ">= 6.12-rc9", true},
		{"6.12.0-rc7-next-20241112", ">= 6.12", false},
		{"6.12.0-rc7-next-20241112", ">= 6.12-rc7", true},
		{"6.1.0-28-amd64", ">= 6.1, < 6.12", true},
		{"6.1.0-28-amd64", ">= 6.1.1", false},
		{"6.12.12+bpo-amd64", ">= 6.12", true},
		{"6.12.12+bpo-amd64", "~> 6.12.3", true},
		{"6.12.12+bpo-amd64", "< 6.12.12", false},
		{"6.1.192-1~deb12u1", ">= 6.12", false},
		{"v6.12", "= 6.12.0", true},
		{"anything", "", true},
	} {
		got, err := KernelMeets(tc.v, tc.c)
		if err != nil || got != tc.want {
			t.Errorf("KernelMeets(%q, %q) = %v, %v; want %v", tc.v, tc.c, got, err, tc.want)
		}
		s := &Suite{Requires: Requires{Kernel: tc.c}}
		if r := s.Unmet(tc.v, nil); (r == "") != tc.want {
			t.Errorf("Unmet(%q) with requires %q = %q, want met %v", tc.v, tc.c, r, tc.want)
		}
	}
	for _, v := range []string{"", "linux", "6"} {
		if ok, err := KernelMeets(v, ">= 6.1"); ok || err == nil {
			t.Errorf("KernelMeets(%q) = %v, %v; want an error", v, ok, err)
		}
	}
}

// TestConfigMeets reads a .config as the built kernel's and checks
// requires.config entries against it.
func TestConfigMeets(t *testing.T) {
	cfg := ParseKernelConfig([]byte("#\n# Automatically generated file\n# CONFIG_C is not set\nCONFIG_A=y\nCONFIG_B=m\nCONFIG_S=\"a=b\"\nCONFIG_N=42\nCONFIG_A=n\n\n"))
	if want := map[string]string{"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_S": `"a=b"`, "CONFIG_N": "42"}; !reflect.DeepEqual(cfg, want) {
		t.Errorf("ParseKernelConfig = %q, want %q", cfg, want)
	}
	for req, want := range map[string]bool{
		"CONFIG_A": true, "CONFIG_A=y": true, "CONFIG_A=n": false,
		"CONFIG_B": false, "CONFIG_B=m": true,
		"CONFIG_C": false, "CONFIG_C=n": false,
		"CONFIG_N=42": true, "CONFIG_N=4": false,
		`CONFIG_S="a=b"`: true, "CONFIG_Z": false,
	} {
		if got := ConfigMeets(cfg, req); got != want {
			t.Errorf("ConfigMeets(%s) = %v, want %v", req, got, want)
		}
	}
}

func TestSuiteUnmet(t *testing.T) {
	s := &Suite{Requires: Requires{Kernel: ">= 6.12", Config: []string{"CONFIG_PRINTK", "CONFIG_HZ=250"}}}
	cfg := map[string]string{"CONFIG_PRINTK": "y", "CONFIG_HZ": "250"}
	if r := s.Unmet("6.12.3", cfg); r != "" {
		t.Errorf("met requirements reported: %s", r)
	}
	if r := s.Unmet("6.1.192", nil); r != "requires kernel >= 6.12, this one is 6.1.192" {
		t.Errorf("got %q", r)
	}
	if r := s.Unmet("6.12", map[string]string{"CONFIG_PRINTK": "m"}); r != "requires CONFIG_PRINTK=y (is m), CONFIG_HZ=250 (not set)" {
		t.Errorf("got %q", r)
	}
}

// TestModuleOptions: the entries required as modules, by name, in order;
// ConfigMeets still judges them on the .config alone.
func TestModuleOptions(t *testing.T) {
	reqs := []string{"CONFIG_LKDTM=m", "CONFIG_PRINTK", "CONFIG_HZ=250", "CONFIG_VIRTIO_NET=m", "CONFIG_M=y"}
	if got, want := ModuleOptions(reqs), []string{"CONFIG_LKDTM", "CONFIG_VIRTIO_NET"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ModuleOptions = %q, want %q", got, want)
	}
	if got := ModuleOptions([]string{"CONFIG_PRINTK"}); got != nil {
		t.Errorf("ModuleOptions without =m = %q", got)
	}
	cfg := map[string]string{"CONFIG_LKDTM": "m", "CONFIG_VIRTIO_NET": "y"}
	if !ConfigMeets(cfg, "CONFIG_LKDTM=m") || ConfigMeets(cfg, "CONFIG_VIRTIO_NET=m") {
		t.Errorf("ConfigMeets on =m entries")
	}
}

// TestArchMeets: requires.arch by ArchMeets and Suite.ArchUnmet.
func TestArchMeets(t *testing.T) {
	for _, tc := range []struct {
		arch     string
		required []string
		unmet    string
	}{
		{"x86_64", nil, ""},
		{"arm64", nil, ""},
		{"arm64", []string{"arm64"}, ""},
		{"arm64", []string{"x86_64", "arm64"}, ""},
		{"x86_64", []string{"arm64"}, "requires arch arm64, cell is x86_64"},
		{"riscv64", []string{"x86_64", "arm64"}, "requires arch x86_64 or arm64, cell is riscv64"},
	} {
		if got := ArchMeets(tc.arch, tc.required); got != (tc.unmet == "") {
			t.Errorf("ArchMeets(%q, %q) = %v", tc.arch, tc.required, got)
		}
		s := &Suite{Requires: Requires{Arch: tc.required}}
		if got := s.ArchUnmet(tc.arch); got != tc.unmet {
			t.Errorf("ArchUnmet(%q) with %q = %q, want %q", tc.arch, tc.required, got, tc.unmet)
		}
	}
}
