package vmrunner

import (
	"fmt"

	"github.com/kvmtest/kvmtest/triage"
)

// observation is what the monitor saw of a machine that has ended, all
// that verdict needs.
type observation struct {
	// ending and reason are the monitor's own ending ("" if QEMU exited
	// before the monitor ended it): a timeout, a crash or an interruption.
	ending Outcome
	reason string
	// fatal says the console showed a fatal finding; guestPanicked that
	// QEMU reported GUEST_PANICKED.
	fatal, guestPanicked bool
	// hello and done say the agent's hello and done arrived.
	hello, done bool
	findings    []triage.Finding // the console's findings, flushed
	waitErr     error            // how QEMU exited (nil: status 0)
}

// verdict judges an ended machine: its outcome, the reason (one line) and,
// when QEMU itself failed (it exited on its own with an error or a
// signal, before the agent was done, with no crash), the infrastructure
// error to return. A guest that stops the VM (QEMU exits 0 under
// -no-reboot) is not an infrastructure failure.
func verdict(o observation) (Outcome, string, error) {
	outcome, reason := o.ending, o.reason
	switch {
	case outcome != "":
	case o.fatal || o.guestPanicked:
		outcome, reason = OutcomeCrashed, crashReason(o.findings)
	case o.done:
		outcome, reason = OutcomeDone, "the agent finished and the VM stopped"
	case !o.hello:
		outcome, reason = OutcomeDied, fmt.Sprintf("the VM stopped before the guest agent started (%s)", exitText(o.waitErr))
	default:
		outcome, reason = OutcomeDied, fmt.Sprintf("the VM stopped before the guest agent finished (%s)", exitText(o.waitErr))
	}
	if outcome == OutcomeCrashed && o.guestPanicked {
		reason += "; pvpanic: QEMU saw GUEST_PANICKED"
	}
	if outcome == OutcomeDied && o.waitErr != nil {
		return outcome, reason, fmt.Errorf("QEMU failed: %v", o.waitErr)
	}
	return outcome, reason, nil
}

// panicked reports whether the console shows the kernel panicking.
func panicked(fs []triage.Finding) bool {
	for _, f := range fs {
		if f.Panicked {
			return true
		}
	}
	return false
}

// crashReason is the verdict's reason for a crash: the first fatal
// console finding, or, when only pvpanic reported the panic, that.
func crashReason(fs []triage.Finding) string {
	for _, f := range fs {
		if f.Fatal {
			return "kernel crashed: " + f.Title
		}
	}
	return "kernel crashed: the guest reported a panic and the console shows no crash report"
}

// exitText describes how QEMU exited, for a verdict's reason.
func exitText(err error) string {
	if err == nil {
		return "QEMU exited 0"
	}
	return "QEMU: " + err.Error()
}
