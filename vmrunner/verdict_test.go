package vmrunner

import (
	"errors"
	"testing"

	"github.com/kvmtest/kvmtest/triage"
)

func TestVerdict(t *testing.T) {
	oops := []triage.Finding{{Title: "WARNING: in foo", Fatal: false}, {Title: "BUG: bad thing", Fatal: true}}
	exit1 := errors.New("exit status 1")
	tests := []struct {
		name    string
		o       observation
		outcome Outcome
		reason  string
		infra   string // the infrastructure error, "" for none
	}{
		{"done", observation{hello: true, done: true}, OutcomeDone, "the agent finished and the VM stopped", ""},
		{"the monitor's ending stays", observation{ending: OutcomeTimeout, reason: "no console output", hello: true, done: true, fatal: true},
			OutcomeTimeout, "no console output", ""},
		{"console crash beats done", observation{fatal: true, hello: true, done: true, findings: oops},
			OutcomeCrashed, "kernel crashed: BUG: bad thing", ""},
		{"pvpanic only", observation{guestPanicked: true, hello: true},
			OutcomeCrashed, "kernel crashed: the guest reported a panic and the console shows no crash report; pvpanic: QEMU saw GUEST_PANICKED", ""},
		{"console and pvpanic", observation{fatal: true, guestPanicked: true, findings: oops},
			OutcomeCrashed, "kernel crashed: BUG: bad thing; pvpanic: QEMU saw GUEST_PANICKED", ""},
		{"monitor's crash with pvpanic", observation{ending: OutcomeCrashed, reason: "kernel crashed: X", guestPanicked: true},
			OutcomeCrashed, "kernel crashed: X; pvpanic: QEMU saw GUEST_PANICKED", ""},
		{"timeout with pvpanic says nothing of it", observation{ending: OutcomeBootTimeout, reason: "no hello", guestPanicked: true},
			OutcomeBootTimeout, "no hello", ""},
		{"died before hello", observation{}, OutcomeDied, "the VM stopped before the guest agent started (QEMU exited 0)", ""},
		{"died after hello", observation{hello: true}, OutcomeDied, "the VM stopped before the guest agent finished (QEMU exited 0)", ""},
		{"QEMU failed", observation{hello: true, waitErr: exit1},
			OutcomeDied, "the VM stopped before the guest agent finished (QEMU: exit status 1)", "QEMU failed: exit status 1"},
		{"QEMU failed after done is not infra", observation{hello: true, done: true, waitErr: exit1}, OutcomeDone, "the agent finished and the VM stopped", ""},
		{"killed after a crash is not infra", observation{fatal: true, findings: oops, waitErr: exit1}, OutcomeCrashed, "kernel crashed: BUG: bad thing", ""},
		{"interrupted", observation{ending: OutcomeInterrupted, reason: "interrupted", waitErr: exit1}, OutcomeInterrupted, "interrupted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outcome, reason, err := verdict(tt.o)
			if outcome != tt.outcome || reason != tt.reason {
				t.Errorf("verdict = %s (%s), want %s (%s)", outcome, reason, tt.outcome, tt.reason)
			}
			if got := errText(err); got != tt.infra {
				t.Errorf("infrastructure error %q, want %q", got, tt.infra)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
