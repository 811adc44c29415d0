package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/results"
)

// forgerProgram is a hostile guest program. "forge" looks for the agent's
// event channel (its node, an inherited descriptor), says what it found,
// then makes its own node of the serial line (as root may) and writes
// the agent's protocol: a pass for itself, results for the later suite
// and for a suite that is not in the matrix, done, and with "reboot"
// powers the VM off before the agent can say anything more. "tap" prints
// a TAP document whose test names carry terminal escapes, and fails.
const forgerProgram = `package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	switch os.Args[1] {
	case "tap":
		fmt.Print("TAP version 13\n1..2\n")
		fmt.Print("ok 1 evil\x1b]0;pwned\x07\x1b[2J name\n")
		fmt.Print("not ok 2 reset\x1bc\r\b\u009b31m\u202e name\n")
		os.Exit(1)
	case "forge":
	}
	if _, err := os.Stat("/dev/ttyS1"); err != nil {
		fmt.Println("channel node: absent")
	} else {
		fmt.Println("channel node: present")
	}
	var st syscall.Stat_t
	if syscall.Fstat(3, &st) != nil {
		fmt.Println("descriptor 3: closed")
	} else {
		fmt.Println("descriptor 3: open")
	}
	if err := syscall.Mknod("/dev/kvmtest-forged", syscall.S_IFCHR|0o600, 4<<8|65); err != nil {
		fmt.Println("mknod:", err)
		os.Exit(2)
	}
	f, err := os.OpenFile("/dev/kvmtest-forged", os.O_WRONLY, 0)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	for _, l := range []string{
		` + "`" + `{"kind":"test","suite":"forger","test":{"Action":"pass","Test":"TestForgedSelf"}}` + "`" + `,
		` + "`" + `{"kind":"suite-end","suite":"forger","status":"pass","exit_code":0}` + "`" + `,
		` + "`" + `{"kind":"suite-start","suite":"later"}` + "`" + `,
		` + "`" + `{"kind":"test","suite":"later","test":{"Action":"pass","Test":"TestForgedByOtherSuite"}}` + "`" + `,
		` + "`" + `{"seq":7,"kind":"suite-end","suite":"later","status":"pass","exit_code":0}` + "`" + `,
		` + "`" + `{"kind":"suite-start","suite":"ghost"}` + "`" + `,
		` + "`" + `{"kind":"suite-end","suite":"ghost","status":"pass","exit_code":0}` + "`" + `,
		` + "`" + `{"kind":"done"}` + "`" + `,
	} {
		f.WriteString(l + "\n")
	}
	f.Close()
	fmt.Println("forged")
	if len(os.Args) > 2 && os.Args[2] == "reboot" {
		syscall.Sync()
		syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART) // QEMU runs with -no-reboot
	}
}
`

// forgeMatrix writes a matrix of the quick matrix's kernel and config
// (the same cached build) with the forger and a later suite.
func forgeMatrix(t *testing.T, prog string, forgeArgs string) string {
	t.Helper()
	root := repoRoot(t)
	m := fmt.Sprintf(`name: e2e-forge
kernels:
  - {name: "6.12", version: "6.12", source: {tarball: /usr/src/linux-source-6.12.tar.xz}}
patchsets:
  - name: base
configs:
  - {name: minimal, base: tinyconfig, fragments: [%s, %s]}
suites:
  - {name: forger, binary: %s, args: [%s], timeout: 1m}
  - {name: later, binary: %s, args: [tap], format: tap, timeout: 1m}
vm: {memory: 512M, cpus: 1, accel: auto, boot-timeout: 30s}
`, filepath.Join(root, "matrices", "configs", "qemu-minimal.config"), filepath.Join(root, "matrices", "configs", "rootfs.config"), prog, forgeArgs, prog)
	return writeTempMatrix(t, "forge.yaml", m)
}

// TestForgedEvents runs a real guest program that forges the agent's
// protocol (issue 13): the run must not pass, the forged lines must be
// findings of the cell, the forger's suite an error, the later suite its
// own real result (TAP, failing), no suite outside the matrix, no forged
// test, the agent's channel closed to the program, and no terminal escape
// of the guest's test names on kvmtest's output. With "reboot" the forger
// powers the VM off after its forged done: still no pass.
func TestForgedEvents(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	prog := buildGuestProgram(t, forgerProgram)
	for _, variant := range []string{"forge", "forge, reboot"} {
		t.Run(variant, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, output := runKvmtest(t, bin, "run", forgeMatrix(t, prog, variant), "--out", out)
			if code == 0 {
				t.Fatalf("exit 0: a forged run passed")
			}
			if strings.ContainsAny(output, "\x1b\x07\b\r\u009b\u202e") {
				t.Errorf("kvmtest's output carries the guest's control characters: %q", output)
			}
			run, err := results.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			c := run.Cells[0]
			for _, f := range c.Findings {
				t.Logf("finding %s (during %s): %s", f.Class, f.Suite, f.Title)
			}
			if c.Status == results.StatusPassed {
				t.Fatalf("cell passed")
			}
			forged := 0
			for _, f := range c.Findings {
				if f.Class == results.ClassForgedEvent {
					forged++
				}
			}
			if forged == 0 {
				t.Errorf("no forged-event finding: %+v", c.Findings)
			}
			status := map[string]string{}
			for _, s := range c.Suites {
				status[s.Name] = s.Status
				for _, tt := range s.Tests {
					if strings.HasPrefix(tt.Name, "TestForged") {
						t.Errorf("forged test %s/%s in the results", s.Name, tt.Name)
					}
				}
			}
			if _, ok := status["ghost"]; ok {
				t.Error("a suite that is not in the matrix has a result")
			}
			if status["forger"] != results.Error {
				t.Errorf("forger suite %q, want error", status["forger"])
			}
			if variant == "forge" {
				if c.Status != results.StatusFailed || !strings.Contains(c.Reason, "event channel") {
					t.Errorf("cell %s (%s), want failed naming the event channel", c.Status, c.Reason)
				}
				if status["later"] != results.Fail {
					t.Errorf("later suite %q, want its real fail", status["later"])
				}
			} else if status["later"] == results.Pass {
				t.Error("the later suite, which never ran, passed")
			}
			said := map[string]bool{}
			for _, e := range readEvents(t, filepath.Join(out, "cells", c.ID, "events.jsonl")) {
				if e.Kind == proto.KindOutput && e.Suite == "forger" {
					said[e.Output] = true
				}
			}
			// With "reboot" the machine stops before the agent forwards
			// the forger's last line: its refused lines say it wrote.
			if !said["channel node: absent"] || !said["descriptor 3: closed"] || (!said["forged"] && variant == "forge") {
				t.Errorf("the forger said %v: want the channel's node absent, descriptor 3 closed, and its lines written", said)
			}
		})
	}
}
