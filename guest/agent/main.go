// Command agent is the guest agent of kvmtest: the static /init of the
// initramfs. As PID 1 it mounts what tests need (proc, sys, dev, tmp),
// opens the event channel (proto.EventsDevice or the device the kernel
// command line names, see proto.Devices; in raw mode) and removes
// its device node so that no suite opens it, runs every
// suite of the manifest (proto.ManifestPath) with a deadline in its own
// process group, streams events to the host as JSON lines (with a
// heartbeat at the manifest's interval), reaps orphans, and powers the VM
// off.
//
// When the manifest has a Root (proto.Root: matrix vm.rootfs host or a
// directory), PID 1 builds the suites' root before the first suite, under
// proto.RootDir (see root.go): the share read-only at lower/ (virtiofs or
// 9p, the manifest's transport first), a tmpfs at rw/ and their overlay
// at root/, in which it mounts fresh /proc, /sys, /dev (devtmpfs, or a
// tmpfs with the agent's device nodes; never the event channel's node),
// /dev/pts, /dev/shm, /tmp and /run (debugfs if it can), and binds the
// initramfs's /init and /kvmtest at the same paths. Every suite then runs
// chrooted into root/, in its /tmp, with PATH
// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, in which
// the agent looks up an Argv[0] without a slash (a program not found
// there is the suite's error). A root that cannot be built is logged and
// ends every suite as an error with the reason; no suite runs in the
// initramfs instead. Without a Root nothing of this happens.
//
// Run as an ordinary program it does the same without mounting, reaping or
// rebooting, which is how it is tested on a host:
//
//	agent -manifest PATH -events PATH [-dir DIR] [-subreaper] [-root DIR]
//
// There the manifest's Root is not built (that takes mounts); -root runs
// every suite chrooted into a directory already made, as in the guest.
//
// With -subreaper it runs the suites in a worker process and reaps orphans
// as PID 1 does, as a child subreaper. The agent is Linux-only.
//
// When the manifest has Modules, PID 1 loads its Boot modules (with their
// dependencies, from proto.ModulesDir) before it mounts anything of the
// host's, and in a shared root binds the release's module tree at the
// same path; a suite's Modules are loaded before it starts. Called as
// modprobe (/sbin/modprobe in the initramfs is a link to /init), the
// binary loads modules the same way (modprobe.go).
//
// Not as PID 1, the binary has one more mode, which suites use:
//
//	/init kselftest-run [-timeout DURATION] PROG...
//
// runs kernel selftests as run_kselftest.sh does and prints one KTAP
// document (see kselftest.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

func main() {
	if filepath.Base(os.Args[0]) == "modprobe" {
		os.Exit(modprobeMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	if os.Getpid() != 1 {
		if code, ok := subcommand(os.Args[1:]); ok {
			os.Exit(code)
		}
	}
	if os.Getpid() == 1 {
		// The kernel passes unknown boot parameters to init as arguments:
		// PID 1 takes none.
		initMain()
		return
	}
	os.Exit(hostMain(os.Args[1:], os.Stderr))
}

// initMain is the agent as PID 1. It never returns.
func initMain() {
	defer func() {
		if r := recover(); r != nil {
			printConsole("panic: %v", r)
		}
		powerOff()
	}()
	// The kernel delivers to init only the signals it handles, and the Go
	// runtime handles all of them, exiting on SIGINT, SIGTERM and SIGHUP:
	// for PID 1 that is a kernel panic. Catch them instead (ignoring them
	// would be inherited by every suite).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	go func() {
		for sig := range sigs {
			printConsole("ignoring %v sent to PID 1", sig)
		}
	}()
	warnings := setupSystem()
	ensureConsole()
	evDev, _ := devices()
	events, err := openEvents(evDev)
	if err != nil {
		printConsole("no event channel, nothing to report to: %v", err)
		return
	}
	// The channel is the agent's alone: with its node gone (and the
	// descriptor close-on-exec) a suite cannot open it by mistake. A root
	// program can still make a node; the host refuses what it writes.
	doorErr := os.Remove(evDev)
	sink := newLineSink(events)
	_ = sink.Send(proto.Event{Kind: proto.KindHello, Message: kernelRelease()})
	if doorErr != nil {
		logf(sink, "removing %s: %v", evDev, doorErr)
	}
	// PID 1 sends the heartbeats, not the worker: they say the kernel
	// still runs user space and the event channel still works.
	stopHeartbeat := startHeartbeat(sink, heartbeatInterval(proto.ManifestPath))
	for _, w := range warnings {
		logf(sink, "setup: %s", w)
	}
	loadBootModules(sink, proto.ManifestPath)
	root, rootErr := prepareRoot(sink, proto.ManifestPath)
	runSupervised(sink, proto.ManifestPath, "/tmp", root, rootErr)
	stopHeartbeat()
	_ = sink.Send(proto.Event{Kind: proto.KindDone})
	drain(events)
}

// drain waits until what was written to a terminal has been transmitted.
func drain(f *os.File) {
	_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1) // tcdrain(3)
}

// hostMain is the agent run as an ordinary program; it returns the exit
// code.
func hostMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	manifest := fs.String("manifest", proto.ManifestPath, "read the manifest from `file`")
	eventsPath := fs.String("events", proto.EventsDevice, "write events to `file` (a terminal is put in raw mode)")
	dir := fs.String("dir", "/tmp", "working `directory` of the suites")
	subreaper := fs.Bool("subreaper", false, "run the suites in a worker process and reap orphans, as PID 1 does")
	worker := fs.Bool("worker", false, "internal: be the worker of a supervising agent (events on descriptor 3)")
	root := fs.String("root", "", "run every suite chrooted into `directory` (dir is then inside it)")
	rootErr := fs.String("root-error", "", "internal: end every suite with this `message` (the root could not be built)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "agent: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *worker {
		// Inherited without close-on-exec: set it, or every suite would
		// inherit the agent's event pipe.
		unix.CloseOnExec(workerEventsFD)
		sink := newLineSink(os.NewFile(workerEventsFD, "events"))
		_ = work(sink, *manifest, *dir, *root, *rootErr)
		return 0
	}
	if *subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			fmt.Fprintf(stderr, "agent: becoming a subreaper: %v\n", err)
			return 1
		}
	}
	events, err := openEvents(*eventsPath)
	if err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 1
	}
	defer events.Close()
	sink := newLineSink(events)
	_ = sink.Send(proto.Event{Kind: proto.KindHello, Message: kernelRelease()})
	stopHeartbeat := startHeartbeat(sink, heartbeatInterval(*manifest))
	if *subreaper {
		runSupervised(sink, *manifest, *dir, *root, *rootErr)
	} else {
		_ = work(sink, *manifest, *dir, *root, *rootErr)
	}
	stopHeartbeat()
	if err := sink.Send(proto.Event{Kind: proto.KindDone}); err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 1
	}
	return 0
}

// work loads the manifest and runs its suites one after another. A
// manifest that cannot be loaded is reported as a log event.
func work(sink Sink, manifest, dir, root, rootErr string) error {
	m, err := loadManifest(manifest)
	if err != nil {
		logf(sink, "%v", err)
		return err
	}
	r := &runner{sink: sink, test2json: m.Test2JSON, dir: dir, taintFile: "/proc/sys/kernel/tainted", root: root, rootErr: rootErr}
	if m.Modules != nil {
		r.modules, r.modulesErr = loadModuleIndex(filepath.Join(proto.ModulesDir, m.Modules.Release))
	}
	for _, s := range m.Suites {
		r.run(context.Background(), s)
	}
	return nil
}
