package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// printConsole prints a diagnostic on stderr, which is the console when
// the agent is PID 1.
func printConsole(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kvmtest-agent: "+format+"\n", args...)
}

// mountSpec is one file system the agent mounts when it is PID 1.
type mountSpec struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	optional               bool // failure is not worth a warning
}

// devNode is a character device the agent makes sure exists in /dev.
type devNode struct {
	name         string
	mode         uint32
	major, minor uint32
}

var devNodes = []devNode{
	{"console", 0o600, 5, 1},
	{"tty", 0o666, 5, 0},
	{"null", 0o666, 1, 3},
	{"zero", 0o666, 1, 5},
	{"full", 0o666, 1, 7},
	{"random", 0o666, 1, 8},
	{"urandom", 0o666, 1, 9},
	{"ttyS0", 0o660, 4, 64},
	{"ttyS1", 0o660, 4, 65},
	{"ttyAMA0", 0o660, 204, 64}, // arm64 virt's PL011 console
	{"hvc0", 0o660, 229, 0},     // the virt machines' event channel (a virtio console)
}

// devices returns the event channel's and the console's device paths,
// read once from the kernel command line (proto.Devices); the defaults
// (ttyS1, ttyS0) until /proc is mounted or when it says nothing.
func devices() (events, console string) {
	devicesOnce.Do(func() {
		b, err := os.ReadFile("/proc/cmdline")
		if err != nil {
			devicesFound[0], devicesFound[1] = proto.EventsDevice, proto.ConsoleDevice
			return
		}
		devicesFound[0], devicesFound[1] = proto.Devices(string(b))
	})
	return devicesFound[0], devicesFound[1]
}

var (
	devicesOnce  sync.Once
	devicesFound [2]string
)

// mounter mounts a file system, as mount(2): unix.Mount, or a test's
// recorder.
type mounter func(source, target, fstype string, flags uintptr, data string) error

// mount mounts m with mnt, creating its mount point. A target that is
// already a mount point (EBUSY) counts as mounted.
func mount(mnt mounter, m mountSpec) error {
	if err := os.MkdirAll(m.target, 0o755); err != nil {
		return fmt.Errorf("mount %s: %w", m.target, err)
	}
	err := mnt(m.source, m.target, m.fstype, m.flags, m.data)
	if err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
	}
	return nil
}

// setupSystem mounts what suites need and fills /dev, as PID 1. It never
// fails: the problems it meets are returned as warnings, for the agent to
// report once the event channel is open.
func setupSystem() (warnings []string) {
	for _, err := range setupSystemAt("", unix.Mount, false) {
		warnings = append(warnings, err.Error())
	}
	if err := loopbackUp(); err != nil {
		warnings = append(warnings, err.Error())
	}
	return warnings
}

// setupSystemAt mounts the system file systems under prefix ("" for the
// initramfs itself, a suites' root otherwise) with mnt: /proc, /sys, /dev
// (devtmpfs, or a tmpfs when the kernel has none) with the nodes of
// devNodes, /tmp, /dev/pts, /dev/shm and /sys/kernel/debug (these three
// optional), and the /dev/fd, /dev/std* and /dev/ptmx symlinks.
//
// inRoot is for a suites' root: /run is mounted too (a tmpfs), a mount
// point that is a symbolic link there is replaced by a directory (it
// would lead out of the root: the agent is not chrooted), and the event
// channel's node (proto.EventsDevice) is not created: PID 1 removed it
// once open, and no suite may find it in the root either. It returns
// every problem met; a failed optional mount is none.
func setupSystemAt(prefix string, mnt mounter, inRoot bool) (problems []error) {
	at := func(p string) string { return prefix + p }
	do := func(m mountSpec) error {
		m.target = at(m.target)
		if inRoot {
			if err := unlinkSymlink(m.target); err != nil {
				return err
			}
		}
		return mount(mnt, m)
	}
	const nodev = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, m := range []mountSpec{
		{source: "proc", target: "/proc", fstype: "proc", flags: nodev},
		{source: "sysfs", target: "/sys", fstype: "sysfs", flags: nodev},
	} {
		if err := do(m); err != nil {
			problems = append(problems, err)
		}
	}
	if err := do(mountSpec{source: "devtmpfs", target: "/dev", fstype: "devtmpfs", flags: unix.MS_NOSUID, data: "mode=0755"}); err != nil {
		err2 := do(mountSpec{source: "dev", target: "/dev", fstype: "tmpfs", flags: unix.MS_NOSUID, data: "mode=0755"})
		if err2 != nil {
			problems = append(problems, fmt.Errorf("%w; fallback: %w", err, err2))
		}
	}
	evDev, _ := devices()
	for _, n := range devNodes {
		if inRoot && "/dev/"+n.name == evDev {
			continue
		}
		if err := ensureDevNode(at("/dev/"+n.name), n); err != nil {
			problems = append(problems, err)
		}
	}
	mounts := []mountSpec{
		{source: "tmpfs", target: "/tmp", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=1777"},
	}
	if inRoot {
		mounts = append(mounts, mountSpec{source: "tmpfs", target: "/run", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=0755"})
	}
	mounts = append(mounts,
		mountSpec{source: "devpts", target: "/dev/pts", fstype: "devpts", flags: unix.MS_NOSUID | unix.MS_NOEXEC, data: "mode=0620,ptmxmode=0666", optional: true},
		mountSpec{source: "shm", target: "/dev/shm", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=1777", optional: true},
	)
	for _, m := range kernelFS {
		m.flags, m.optional = nodev, true
		mounts = append(mounts, m)
	}
	for _, m := range mounts {
		if err := do(m); err != nil && !m.optional {
			problems = append(problems, err)
		}
	}
	for _, l := range devLinks {
		link := at(l[0])
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(l[1], link); err != nil {
			problems = append(problems, fmt.Errorf("symlink %s: %w", link, err))
		}
	}
	return problems
}

// devLinks are the symbolic links of /dev: {link, target}.
var devLinks = [][2]string{
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
	{"/dev/ptmx", "pts/ptmx"},
}

// unlinkSymlink removes name if it is a symbolic link.
func unlinkSymlink(name string) error {
	fi, err := os.Lstat(name)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("replacing the symbolic link %s by a mount point: %w", name, err)
	}
	return nil
}

// ensureDevNode creates the device node n at name unless something is
// there already.
func ensureDevNode(name string, n devNode) error {
	if _, err := os.Lstat(name); err == nil {
		return nil
	}
	if err := unix.Mknod(name, unix.S_IFCHR|n.mode, int(unix.Mkdev(n.major, n.minor))); err != nil {
		return fmt.Errorf("mknod %s: %w", name, err)
	}
	// Mknod is subject to the umask.
	if err := os.Chmod(name, os.FileMode(n.mode)); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	return nil
}

// ensureConsole makes the standard descriptors the console when they are
// closed or /dev/null (which the Go runtime opens when the initramfs has no
// /dev/console for the kernel to give init).
func ensureConsole() {
	var st unix.Stat_t
	if err := unix.Fstat(2, &st); err == nil && !(st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == unix.Mkdev(1, 3)) {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		_ = unix.Dup3(fd, i, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// openEvents opens the event channel. A terminal (the guest's serial line)
// is put in raw mode; any other path is created or truncated, which is how
// the agent is tested on a host.
func openEvents(name string) (*os.File, error) {
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		if err := makeRaw(fd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	} else if err := unix.Ftruncate(fd, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		unix.Close(fd)
		return nil, fmt.Errorf("truncating %s: %w", name, err)
	}
	// Blocking writes: a line is written whole or the agent waits.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// makeRaw puts the terminal fd in raw mode, as cfmakeraw(3) does: no echo,
// no line discipline, no CR/NL translation either way, 8N1, receiver on,
// modem lines ignored, at 115200 baud (QEMU ignores the speed).
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("getting termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
	t.Oflag &^= unix.OPOST | unix.ONLCR
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | unix.B115200
	t.Ispeed, t.Ospeed = unix.B115200, unix.B115200
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("setting raw mode: %w", err)
	}
	return nil
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// powerOff ends the VM: QEMU runs with -no-reboot, so a restart makes it
// exit, and it needs no ACPI. It never returns: PID 1 must not exit.
func powerOff() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	printConsole("reboot: %v; waiting for the host to stop the VM", err)
	for {
		time.Sleep(time.Hour)
	}
}

// kernelFS are the kernel's own file systems tests expect, mounted (by
// setupSystemAt) when the kernel has them: a kernel without one is not an
// error.
var kernelFS = []mountSpec{
	{source: "debugfs", target: "/sys/kernel/debug", fstype: "debugfs"},
	{source: "tracefs", target: "/sys/kernel/tracing", fstype: "tracefs"},
	{source: "cgroup2", target: "/sys/fs/cgroup", fstype: "cgroup2"},
	{source: "bpf", target: "/sys/fs/bpf", fstype: "bpf"},
}

// loopbackUp brings the loopback interface up (the kernel then gives it
// 127.0.0.1/8: net/ipv4/devinet.c), as a system's init does. A kernel
// without networking has none: that is no error.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			return nil
		}
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}
