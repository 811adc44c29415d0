package matrices

import (
	"testing"
)

func TestParseKernelVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"6.12", "6.12.0"},
		{"v6.12", "6.12.0"},
		{"6.12.0", "6.12.0"},
		{"6.12-rc1", "6.12.0-rc.1"},
		{"6.12.0-rc10", "6.12.0-rc.10"},
		{"6.12-rc1-00012-gdeadbeef", "6.12.0-rc.1"},
		{"6.1.192-1~deb12u1", "6.1.192"},
		{"6.1.0-26-amd64", "6.1.0"},
		{"6.12.57+", "6.12.57"},
		{"6.12.57+deb13-amd64", "6.12.57"},
		{" 6.8.0-45-generic ", "6.8.0"},
		{"2.6.32.71", "2.6.32.71"},
		{"6.13.0-rc2", "6.13.0-rc.2"},
	} {
		v, err := ParseKernelVersion(tc.in)
		if err != nil {
			t.Errorf("ParseKernelVersion(%q): %v", tc.in, err)
			continue
		}
		if v.String() != tc.want {
			t.Errorf("ParseKernelVersion(%q) = %s, want %s", tc.in, v, tc.want)
		}
	}
	for _, bad := range []string{"", "6", "six", "6.x", "6.12abc", "linux-6.12", "99999999999.1"} {
		if v, err := ParseKernelVersion(bad); err == nil {
			t.Errorf("ParseKernelVersion(%q) = %s, want an error", bad, v)
		}
	}
}

// TestKernelVersionOrder: each version is strictly less than the next.
func TestKernelVersionOrder(t *testing.T) {
	order := []string{
		"5.15.170",
		"6.1-rc1",
		"6.1.0-rc2",
		"6.1-rc9",
		"6.1-rc10",
		"6.1",
		"6.1.192-1~deb12u1",
		"6.1.193",
		"6.2-rc1",
		"6.12-rc9",
		"6.12.0-rc10",
		"6.12",
		"6.12.57+",
		"6.13-rc1",
	}
	for i := 1; i < len(order); i++ {
		a, err1 := ParseKernelVersion(order[i-1])
		b, err2 := ParseKernelVersion(order[i])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !a.LessThan(b) {
			t.Errorf("%s is not < %s (%s vs %s)", order[i-1], order[i], a, b)
		}
	}
	equal := [][2]string{{"6.12", "6.12.0"}, {"6.12", "v6.12"}, {"6.1.192", "6.1.192-1~deb12u1"}, {"6.12-rc1", "6.12.0-rc1"}}
	for _, p := range equal {
		a, _ := ParseKernelVersion(p[0])
		b, _ := ParseKernelVersion(p[1])
		if !a.Equal(b) {
			t.Errorf("%s != %s", p[0], p[1])
		}
	}
}

func TestConstraints(t *testing.T) {
	for _, tc := range []struct {
		c, v string
		want bool
	}{
		{">= 6.12", "6.12", true},
		{">= 6.12", "6.12.57+", true},
		{">= 6.12", "6.12-rc7", false}, // a release candidate comes before the release
		{">= 6.12", "6.13-rc1", true},  // ... and after the previous one (go-version alone says false)
		{"< 6.12", "6.12-rc7", true},
		{">= 6.12-rc3", "6.12-rc10", true},
		{">= 6.12-rc3", "6.12-rc2", false},
		{">= 6.1, < 6.12", "6.1.192-1~deb12u1", true},
		{">= 6.1, < 6.12", "6.12.0", false},
		{"6.12", "6.12.0", true},
		{"= 6.12", "6.12.1", false},
		{"!= 6.12", "6.12.1", true},
		{"> 6.1", "6.1.1", true},
		{"<= 6.1", "6.1.1", false},
		{"~> 6.12.3", "6.12.99", true},
		{"~> 6.12.3", "6.13", false},
		{"~> 6.12.3", "6.12.2", false},
		{"~> 6.12", "6.19", true},
		{"~> 6.12", "7.0", false},
	} {
		ok, err := CheckKernelVersion(tc.c, tc.v)
		if err != nil {
			t.Errorf("%q vs %q: %v", tc.c, tc.v, err)
		} else if ok != tc.want {
			t.Errorf("%q satisfies %q = %v, want %v", tc.v, tc.c, ok, tc.want)
		}
	}
	for _, bad := range []string{"", ">= six", ">= 6.1,", "=> 6.1", ">>6.1", ">= 6.1 6.2"} {
		if _, err := ParseConstraint(bad); err == nil {
			t.Errorf("ParseConstraint(%q) succeeded", bad)
		}
	}
	if ok, err := CheckKernelVersion("", "anything"); !ok || err != nil {
		t.Errorf("empty constraint: %v %v", ok, err)
	}
	if _, err := CheckKernelVersion(">= 6.1", ""); err == nil {
		t.Error("unknown version accepted")
	}
}

func TestPatchsetApplies(t *testing.T) {
	p := &Patchset{Name: "x", AppliesTo: ">= 6.12"}
	for v, want := range map[string]bool{"6.12": true, "6.1.192-1~deb12u1": false, "6.13-rc1": true} {
		if got, err := p.Applies(v); err != nil || got != want {
			t.Errorf("Applies(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	if got, err := (&Patchset{}).Applies(""); !got || err != nil {
		t.Errorf("no constraint: %v %v", got, err)
	}
}

func TestVersionFromMakefile(t *testing.T) {
	for _, tc := range []struct{ mk, want string }{
		{"VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n", "6.12.117"},
		{"# SPDX\nVERSION = 6\nPATCHLEVEL = 13\nSUBLEVEL = 0\nEXTRAVERSION = -rc2\n", "6.13.0-rc2"},
		{"VERSION = 2\nPATCHLEVEL = 6\nSUBLEVEL =\nEXTRAVERSION =\n", "2.6"},
	} {
		got, err := versionFromMakefile([]byte(tc.mk))
		if err != nil || got != tc.want {
			t.Errorf("versionFromMakefile(%q) = %q, %v; want %q", tc.mk, got, err, tc.want)
		}
	}
	if _, err := versionFromMakefile([]byte("all:\n\ttrue\n")); err == nil {
		t.Error("no error for a Makefile without VERSION")
	}
}
