package vmrunner

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/internal/arch"
)

func TestSlowdown(t *testing.T) {
	tests := []struct {
		accel, env string
		want       float64
	}{
		{AccelKVM, "", 1},
		{AccelKVM, "20", 1}, // the variable is about TCG only
		{AccelTCG, "", DefaultTCGSlowdown},
		{AccelTCG, "12.5", 12.5},
		{AccelTCG, "1", 1},
		{AccelTCG, "0", DefaultTCGSlowdown},
		{AccelTCG, "-3", DefaultTCGSlowdown},
		{AccelTCG, "fast", DefaultTCGSlowdown},
		{AccelTCG, "NaN", DefaultTCGSlowdown},
		{AccelTCG, "Inf", DefaultTCGSlowdown},
		{AccelAuto, "", 1},
		{"hvf", "", 1},
	}
	for _, tt := range tests {
		t.Setenv(SlowdownEnv, tt.env)
		if got := Slowdown(tt.accel, ""); got != tt.want {
			t.Errorf("Slowdown(%q) with %s=%q = %g, want %g", tt.accel, SlowdownEnv, tt.env, got, tt.want)
		}
	}
}

// TestSlowdownPerArch: each architecture has its own measured TCG factor
// (riscv64's translator is the slowest of QEMU 7.2's); an architecture of
// the table without one would silently get x86's; the variable overrides
// all.
func TestSlowdownPerArch(t *testing.T) {
	t.Setenv(SlowdownEnv, "")
	for _, name := range arch.Names() {
		if _, ok := tcgSlowdown[name]; !ok {
			t.Errorf("%s has no TCG factor of its own", name)
		}
	}
	if x, r := Slowdown(AccelTCG, "x86_64"), Slowdown(AccelTCG, "riscv64"); x != DefaultTCGSlowdown || r <= x {
		t.Errorf("tcg: x86_64 %g, riscv64 %g; want %g and more", x, r, float64(DefaultTCGSlowdown))
	}
	if f := Slowdown(AccelTCG, "aarch64"); f != Slowdown(AccelTCG, "arm64") {
		t.Errorf("aarch64 is arm64: %g", f)
	}
	if f := Slowdown(AccelKVM, "arm64"); f != 1 {
		t.Errorf("kvm: %g", f)
	}
	t.Setenv(SlowdownEnv, "3")
	if f := Slowdown(AccelTCG, "riscv64"); f != 3 {
		t.Errorf("%s=3: riscv64 %g", SlowdownEnv, f)
	}
}

func TestScaleDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		f    float64
		want time.Duration
	}{
		{time.Minute, 1, time.Minute},
		{time.Minute, 8, 8 * time.Minute},
		{1500 * time.Millisecond, 2.5, 3750 * time.Millisecond},
		{0, 8, 0},   // no limit stays no limit
		{-1, 8, -1}, // nor is a negative one turned into a limit
		{time.Duration(math.MaxInt64 / 2), 4, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		if got := ScaleTimeout(tt.d, tt.f); got != tt.want {
			t.Errorf("ScaleTimeout(%s, %g) = %s, want %s", tt.d, tt.f, got, tt.want)
		}
	}
}

func TestSpecScaled(t *testing.T) {
	t.Setenv(SlowdownEnv, "3")
	base := Spec{BootTimeout: time.Minute, RunTimeout: 10 * time.Second, SilenceTimeout: 0, CrashGrace: time.Second}
	tests := []struct {
		name     string
		spec     Spec
		accel    string
		factor   float64
		boot     time.Duration
		run      time.Duration
		silence  time.Duration
		unscaled bool
	}{
		{"kvm", base, AccelKVM, 1, time.Minute, 10 * time.Second, 0, false},
		{"tcg", base, AccelTCG, 3, 3 * time.Minute, 30 * time.Second, 0, false},
		{"tcg with a silence limit", Spec{BootTimeout: time.Second, RunTimeout: time.Second, SilenceTimeout: 5 * time.Second}, AccelTCG, 3, 3 * time.Second, 3 * time.Second, 15 * time.Second, false},
		{"tcg unscaled", Spec{BootTimeout: time.Minute, RunTimeout: 10 * time.Second, CrashGrace: time.Second, Unscaled: true}, AccelTCG, 1, time.Minute, 10 * time.Second, 0, true},
	}
	for _, tt := range tests {
		got, f := tt.spec.scaled(tt.accel)
		if f != tt.factor || got.BootTimeout != tt.boot || got.RunTimeout != tt.run || got.SilenceTimeout != tt.silence {
			t.Errorf("%s: factor %g, boot %s, run %s, silence %s; want %g, %s, %s, %s",
				tt.name, f, got.BootTimeout, got.RunTimeout, got.SilenceTimeout, tt.factor, tt.boot, tt.run, tt.silence)
		}
		if want := ScaleTimeout(tt.spec.CrashGrace, tt.factor); got.CrashGrace != want {
			t.Errorf("%s: CrashGrace %s, want %s", tt.name, got.CrashGrace, want)
		}
	}
}

func TestTimeoutText(t *testing.T) {
	if got, want := timeoutText(35*time.Second, 35*time.Second, 1, AccelKVM), "35s"; got != want {
		t.Errorf("unscaled: %q, want %q", got, want)
	}
	if got, want := timeoutText(280*time.Second, 35*time.Second, 8, AccelTCG), "4m40s: 35s ×8 for tcg"; got != want {
		t.Errorf("scaled: %q, want %q", got, want)
	}
}

func TestMachineHasPCI(t *testing.T) {
	tests := []struct {
		extra []string
		want  bool
	}{
		{nil, true},
		{[]string{"-device", "pvpanic"}, true},
		{[]string{"-machine", "q35"}, true},
		{[]string{"-machine", "pc,accel=tcg"}, true},
		{[]string{"-machine", "accel=tcg"}, true},
		{[]string{"-machine", "microvm"}, false},
		{[]string{"-M", "microvm,x-option-roms=off"}, false},
		{[]string{"-machine", "type=isapc"}, false},
		{[]string{"--machine=none"}, false},
		{[]string{"-machine", "microvm", "-machine", "q35"}, true}, // the last one wins
	}
	for _, tt := range tests {
		if got := machineHasPCI(tt.extra); got != tt.want {
			t.Errorf("machineHasPCI(%q) = %v, want %v", tt.extra, got, tt.want)
		}
	}
}

func TestArgvPVPanic(t *testing.T) {
	all := qemuCaps{action: true, pvpanicPCI: true}
	tests := []struct {
		name  string
		extra []string
		caps  qemuCaps
		want  bool
	}{
		{"pc machine, capable QEMU", nil, all, true},
		{"no -action (QEMU < 6.0): its default would stop the guest", nil, qemuCaps{pvpanicPCI: true}, false},
		{"no pvpanic-pci device", nil, qemuCaps{action: true}, false},
		{"machine without PCI", []string{"-M", "microvm"}, all, false},
	}
	for _, tt := range tests {
		s := Spec{Kernel: "k", Initrd: "i", ExtraArgs: tt.extra}
		s.defaults()
		argv := s.argv(AccelTCG, "/tmp/d", tt.caps)
		i := slices.Index(argv, "pvpanic-pci")
		j := slices.Index(argv, "panic=none")
		if got := i > 0 && argv[i-1] == "-device" && j > 0 && argv[j-1] == "-action"; got != tt.want {
			t.Errorf("%s: pvpanic in argv %v, want %v: %q", tt.name, got, tt.want, argv)
		}
		if (i >= 0) != (j >= 0) {
			t.Errorf("%s: the device and -action panic=none come together: %q", tt.name, argv)
		}
	}
}
