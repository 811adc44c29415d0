package vmrunner

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/kvmtest/kvmtest/internal/arch"
)

// DefaultTCGSlowdown is how many times longer the same guest work is
// assumed to take under TCG than under KVM, which runs CPU and system call
// work at about the host's native speed. bench/accel-factor.sh measures
// the real factor of a host (a static Go program natively and in a TCG
// guest of the default kernel): 5.4 in total, 5.9 for the worst phase on
// the 2-core development machine; 8 leaves headroom for busier hosts. See
// docs/architecture.md.
const DefaultTCGSlowdown = 8

// SlowdownEnv overrides the TCG slowdown of every architecture (a number
// > 0, e.g. "12.5").
const SlowdownEnv = "KVMTEST_TCG_SLOWDOWN"

// tcgSlowdown is the TCG factor of each guest architecture on an x86_64
// host, against the same work natively. bench/arch.sh measures them (a
// static Go program natively and in a TCG guest of each architecture's
// minimal kernel); on 2026-12-03, two runs on the 2-core development
// machine gave x86_64 7.2 and 6.2, arm64 6.2 and 4.0, riscv64 13.7 and
// 9.9 (QEMU 7.2: its aarch64 translator is faster than its x86 one, its
// riscv64 one slower). Each factor is the worst seen with about a third
// more headroom; docs/architecture.md has the table.
var tcgSlowdown = map[string]float64{
	arch.Default: DefaultTCGSlowdown,
	"arm64":      8,
	"riscv64":    18,
}

// Slowdown returns the factor by which a timeout written for KVM is
// multiplied for a guest of the named architecture ("" is x86_64) running
// under accel (an accelerator already resolved: kvm or tcg): 1 for kvm,
// the architecture's TCG factor for tcg unless $KVMTEST_TCG_SLOWDOWN holds
// a number > 0, and 1 for anything else.
func Slowdown(accel, archName string) float64 {
	if accel != AccelTCG {
		return 1
	}
	if f, err := slowdownFromEnv(); err == nil && f > 0 {
		return f
	}
	if archName == "" {
		archName = arch.Default
	}
	if a, ok := arch.ByName(archName); ok {
		if f, ok := tcgSlowdown[a.Name]; ok {
			return f
		}
	}
	return DefaultTCGSlowdown
}

// slowdownFromEnv parses $KVMTEST_TCG_SLOWDOWN; 0 when it is unset.
func slowdownFromEnv() (float64, error) {
	v := os.Getenv(SlowdownEnv)
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%s=%q: want a number > 0", SlowdownEnv, v)
	}
	return f, nil
}

// ScaleTimeout multiplies a timeout written for KVM by f, saturating
// instead of overflowing. Zero and negative durations (no limit, or a
// default still to apply) are returned as they are, and so is d when f is
// 1 or less: a slower accelerator never shortens a timeout.
func ScaleTimeout(d time.Duration, f float64) time.Duration {
	if d <= 0 || f <= 1 {
		return d
	}
	s := float64(d) * f
	if s >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(s)
}

// scaled returns the spec with its boot, run and silence timeouts and its
// crash grace multiplied by the slowdown of accel, and the factor applied
// (1 when the spec asks for wall-clock timeouts). The grace is scaled too:
// after a panic the kernel finishes its report and reboots (a hard lockup
// waits a second for the other CPUs first), all of it slower under TCG.
func (s Spec) scaled(accel string) (Spec, float64) {
	if s.Unscaled {
		return s, 1
	}
	f := Slowdown(accel, s.Arch)
	s.BootTimeout = ScaleTimeout(s.BootTimeout, f)
	s.RunTimeout = ScaleTimeout(s.RunTimeout, f)
	s.SilenceTimeout = ScaleTimeout(s.SilenceTimeout, f)
	s.CrashGrace = ScaleTimeout(s.CrashGrace, f)
	return s, f
}

// timeoutText describes a timeout for a verdict: the value used and, when
// it was scaled, the value it was scaled from.
func timeoutText(used, base time.Duration, factor float64, accel string) string {
	if used == base {
		return used.String()
	}
	return fmt.Sprintf("%s: %s ×%g for %s", used.Round(time.Millisecond), base, factor, accel)
}
