// Package proto defines what the guest agent and the host exchange: the
// manifest the host writes into the initramfs, and the events the agent
// streams back on a serial line separate from the kernel console.
//
// The event channel is JSON lines (one Event per line, at most MaxLineBytes
// each) on the guest's /dev/ttyS1 (x86's second UART) or, on a machine
// with one UART, /dev/hvc0 (a virtio console port), which QEMU connects
// to a host socket; Devices tells the agent which from the kernel's
// command line.
//
// When the manifest asks for them (Manifest.Heartbeat), the agent also
// sends a KindHeartbeat event at that interval, from its hello until its
// done, whatever the suites do. The host ends a VM that stays silent too
// long; heartbeats let it tell a guest whose kernel hung (no more events
// at all) from a slow test that prints nothing (heartbeats go on). They
// carry nothing else and are not part of any result.
package proto

import (
	"strings"
	"time"
)

// Well-known locations inside the initramfs.
const (
	// ManifestPath is where the host writes the Manifest.
	ManifestPath = "/kvmtest/manifest.json"
	// EventsDevice is the serial line the agent writes events to, unless
	// the kernel command line names another (EventsParam).
	EventsDevice = "/dev/ttyS1"
	// ConsoleDevice is the serial line of the kernel console, unless the
	// kernel command line's console= names another.
	ConsoleDevice = "/dev/ttyS0"
	// EventsParam is the kernel command-line word that names the event
	// channel's device under /dev when it is not EventsDevice, such as
	// kvmtest.events=hvc0 (VirtioEventsDevice).
	EventsParam = "kvmtest.events"
	// VirtioEventsDevice is the event channel on a machine with one UART:
	// the first virtio console port, named EventsPortName on the host.
	VirtioEventsDevice = "hvc0"
	EventsPortName     = "kvmtest.events"
	// GuestEnv is set to "1" in the environment of every suite the agent runs,
	// so that guest test packages can refuse to run on a host.
	GuestEnv = "KVMTEST_GUEST"
	// MaxLineBytes bounds one event line; longer lines are rejected by the host.
	MaxLineBytes = 1 << 20
)

// Suite formats.
const (
	FormatGo       = "go"        // a `go test -c` binary, run through test2json
	FormatTAP      = "tap"       // TAP output on stdout
	FormatKTAP     = "ktap"      // KTAP output on stdout
	FormatExitCode = "exit-code" // pass iff the program exits 0
	// FormatConsole runs the program on the serial console (ConsoleDevice)
	// as its controlling terminal: an interactive shell for `kvmtest boot`.
	// Pass iff it exits 0; its output is not sent as events.
	FormatConsole = "console"
)

// Manifest tells the agent what to run, in order.
type Manifest struct {
	// Cell is the id of the cell being run, for logs only.
	Cell string `json:"cell"`
	// Suites are run one after another.
	Suites []Suite `json:"suites"`
	// Test2JSON is the path of the test2json binary inside the initramfs.
	Test2JSON string `json:"test2json,omitempty"`
	// Heartbeat is the interval of the agent's KindHeartbeat events; 0
	// sends none.
	Heartbeat Duration `json:"heartbeat,omitempty"`
	// Root, when set, is the root file system the suites run in instead
	// of the initramfs (matrix vm.rootfs host or DIR), all but those
	// marked Suite.Initramfs.
	Root *Root `json:"root,omitempty"`
	// Modules, when set, are the kernel's modules in the initramfs.
	Modules *Modules `json:"modules,omitempty"`
}

// ModulesDir is where the kernel's modules are in the initramfs (and, in
// a shared root, bound at the same path): ModulesDir/RELEASE holds the
// tree modules_install wrote (modules.dep, modules.builtin, kernel/...).
// /sbin/modprobe in the initramfs is the agent itself (modprobe.go).
const ModulesDir = "/lib/modules"

// Modules says what the agent does with the kernel's modules.
type Modules struct {
	// Release is the kernel release the modules are for: they are at
	// ModulesDir/Release.
	Release string `json:"release"`
	// Boot are loaded, with their dependencies, before anything is
	// mounted from the host: the drivers a distribution kernel builds as
	// modules (virtio_pci, virtiofs, 9p, overlay). One that cannot be
	// loaded is logged, and the mount that needs it then says why.
	Boot []string `json:"boot,omitempty"`
	// Shared, when set, is where the whole tree is inside the shared
	// root (Manifest.Root: a distribution kernel's modules, too many for
	// the initramfs, which then holds only those Boot and the suites
	// need): it is bound at ModulesDir/Release in the root instead of the
	// initramfs's copy.
	Shared string `json:"shared,omitempty"`
}

// Root transports (Root.Transport).
const (
	TransportVirtiofs = "virtiofs" // mount -t virtiofs TAG
	Transport9P       = "9p"       // mount -t 9p -o trans=virtio,version=9p2000.L TAG
)

// RootDir is where the agent builds the suites' root (Manifest.Root) in
// the initramfs: the share read-only at RootDir/lower, a tmpfs at
// RootDir/rw for the overlay's upper and work directories, the overlay
// at RootDir/root.
const RootDir = "/kvmtest/rootfs"

// Root is a directory of the host shared read-only into the guest: the
// agent mounts it (Tag, over Transport), puts a tmpfs overlay on top so
// that suites can write anywhere, mounts fresh /proc, /sys, /dev (with
// /dev/pts and /dev/shm), /tmp and /run in it, makes the initramfs's
// /init and /kvmtest visible at the same paths in it (the suites'
// programs, test2json, the kselftest runner), and runs every suite
// chrooted into it, its working directory the root's /tmp. A suite's
// Argv[0] without a slash is looked up in the root's PATH.
type Root struct {
	Tag       string `json:"tag"`
	Transport string `json:"transport"`
}

// Suite is one program to run in the guest.
type Suite struct {
	Name string `json:"name"`
	// Argv is the program and its arguments; Argv[0] is an absolute path in
	// the guest, or, with a Manifest.Root, a name looked up in its PATH.
	Argv []string `json:"argv"`
	// Timeout bounds the suite; the agent kills its whole process group after it.
	Timeout Duration `json:"timeout"`
	// Format says how to read the program's output (FormatGo, ...).
	Format string `json:"format"`
	// Env is extra environment, KEY=VALUE.
	Env []string `json:"env,omitempty"`
	// Skip, when not empty, tells the agent to report the suite as skipped with this reason.
	Skip string `json:"skip,omitempty"`
	// Modules are loaded (modprobe, with their dependencies) before the
	// suite starts; one that cannot be loaded ends the suite as an error.
	Modules []string `json:"modules,omitempty"`
	// Initramfs runs the suite in the initramfs even when the manifest
	// has a Root (a suite's own rootfs: initramfs).
	Initramfs bool `json:"initramfs,omitempty"`
	// Workdir is the suite's working directory, an absolute path in the
	// root it runs in, made (with its parents) before it starts; "" is
	// the agent's default (/tmp).
	Workdir string `json:"workdir,omitempty"`
}

// Duration is a time.Duration that encodes as a string ("1m30s") in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Event kinds.
//
// A suite's output is sent once, line by line. For FormatGo, test2json's
// events are KindTest events. For FormatTAP and FormatKTAP the agent parses
// the output and reports each test case as test2json would: KindTest
// events with Action "run", "output" (one line of the case, newline
// included) and "pass", "fail" or "skip" (with Elapsed), Package the suite
// name and Test the case name (parent/child for subtests); the lines of no
// case (version, plan, preamble) are KindOutput events. Other formats send
// every line as a KindOutput event.
const (
	KindHello      = "hello"       // agent started; Message holds the kernel release (uname -r)
	KindSuiteStart = "suite-start" // Suite started
	KindTest       = "test"        // Test holds one test2json event of Suite, or one the agent derived from TAP
	KindOutput     = "output"      // Output holds a line of Suite's output that belongs to no test case
	KindSuiteEnd   = "suite-end"   // Suite ended: Status, ExitCode, Elapsed, Message
	KindTaint      = "taint"       // Taint holds /proc/sys/kernel/tainted after Suite
	KindLog        = "log"         // Message is a diagnostic from the agent itself
	KindDone       = "done"        // all suites ran; the agent powers off next
	// KindHeartbeat says the guest is alive: sent every Manifest.Heartbeat
	// from hello until done, with no other field than Time.
	KindHeartbeat = "heartbeat"
)

// Suite statuses reported in KindSuiteEnd events.
const (
	StatusPass    = "pass"
	StatusFail    = "fail"
	StatusSkip    = "skip"
	StatusTimeout = "timeout"
	StatusError   = "error" // the program could not be started
)

// Event is one line on the event channel.
//
// The host accepts only the events the manifest allows, in order (see
// results.Collector): one hello first; then for each suite of the
// manifest, in its order, its suite-start, its own test and output
// events, its suite-end and its taint; logs and heartbeats anywhere in
// between; done last, and nothing after it. Seq numbers every line the
// agent writes from 1 (heartbeats included), one more each time: a line
// whose Seq is not the next one was not written by the agent in order
// (a guest program that wrote to the channel) and is refused. Refused
// events are findings of the cell, which then cannot pass.
type Event struct {
	Seq      uint64     `json:"seq,omitempty"`
	Time     time.Time  `json:"time"`
	Kind     string     `json:"kind"`
	Suite    string     `json:"suite,omitempty"`
	Test     *TestEvent `json:"test,omitempty"`
	Output   string     `json:"output,omitempty"`
	Status   string     `json:"status,omitempty"`
	ExitCode *int       `json:"exit_code,omitempty"`
	Elapsed  float64    `json:"elapsed,omitempty"` // seconds
	Taint    *uint64    `json:"taint,omitempty"`
	Message  string     `json:"message,omitempty"`
}

// TestEvent is the event format of `go test -json` / test2json
// (see `go doc test2json`).
type TestEvent struct {
	Time    time.Time `json:"Time,omitempty"`
	Action  string    `json:"Action"`
	Package string    `json:"Package,omitempty"`
	Test    string    `json:"Test,omitempty"`
	Elapsed float64   `json:"Elapsed,omitempty"`
	Output  string    `json:"Output,omitempty"`
}

// Devices returns the paths of the event channel and of the console that
// a kernel command line names: /dev/ plus EventsParam's value (else
// EventsDevice) and /dev/ plus the last console= device, its options cut
// (else ConsoleDevice). A name that is not a plain device name (letters,
// digits; no slash) is ignored.
func Devices(cmdline string) (events, console string) {
	events, console = EventsDevice, ConsoleDevice
	for _, w := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, ",")
		if !plainDeviceName(v) {
			continue
		}
		switch k {
		case EventsParam:
			events = "/dev/" + v
		case "console":
			console = "/dev/" + v
		}
	}
	return events, console
}

// plainDeviceName reports whether s is a device name such as ttyS0 or
// hvc0: ASCII letters and digits only.
func plainDeviceName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
