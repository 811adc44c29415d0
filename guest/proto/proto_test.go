package proto

import "testing"

func TestDevices(t *testing.T) {
	for _, tc := range []struct{ cmdline, events, console string }{
		{"", EventsDevice, ConsoleDevice},
		{"console=ttyS0 rdinit=/init panic=-1 8250.nr_uarts=2", "/dev/ttyS1", "/dev/ttyS0"},
		{"console=ttyAMA0 rdinit=/init kvmtest.events=hvc0\n", "/dev/hvc0", "/dev/ttyAMA0"},
		{"console=tty0 console=ttyS0,115200n8", EventsDevice, "/dev/ttyS0"}, // the last console= is /dev/console
		{"kvmtest.events=../../etc/passwd console=", EventsDevice, ConsoleDevice},
		{"kvmtest.events=hvc0/x kvmtest.events= console=ttyS0", EventsDevice, "/dev/ttyS0"},
	} {
		ev, con := Devices(tc.cmdline)
		if ev != tc.events || con != tc.console {
			t.Errorf("Devices(%q) = %q, %q; want %q, %q", tc.cmdline, ev, con, tc.events, tc.console)
		}
	}
}
