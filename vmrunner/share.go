package vmrunner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/internal/tail"
)

// Share is a host directory shared read-only into the guest under Tag
// (the name the guest mounts it by: `mount -t virtiofs TAG` or
// `mount -t 9p -o trans=virtio TAG`). Read-only is enforced on the host:
// see startVirtiofsd and NineP.
type Share struct {
	Tag string
	Dir string
}

// VirtiofsdPath is QEMU's C virtiofsd as Debian's qemu-system-common
// ships it.
var VirtiofsdPath = "/usr/lib/qemu/virtiofsd"

// qemuBinary is the QEMU whose devices ResolveShareTransport probes.
const qemuBinary = "qemu-system-x86_64"

// ShareTransportEnv overrides a Spec.ShareTransport of "" or "auto":
// "virtiofs" or "9p" (to force the fallback).
const ShareTransportEnv = "KVMTEST_SHARE_TRANSPORT"

// shareTag is what a tag may be: QEMU's 9p mount_tag and virtiofs tag
// limits (36 bytes) and no character QEMU's option parser treats alone.
var shareTag = regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)

// MaxShares is the most shares a machine may have: each virtiofs share's
// socket, fsN.sock, must fit in the private directory's slack (see
// MaxTempDirLen), so N has one digit.
const MaxShares = 10

// ResolveShareTransport decides how shares reach the guest: want is
// "virtiofs", "9p", or "" / "auto" (the ShareTransportEnv value when set,
// else virtiofs when virtiofsd is there and QEMU has vhost-user-fs-pci,
// else 9p when QEMU has virtio-9p-pci). why says why auto did not give
// virtiofs (or that the environment chose), for the caller to say once;
// err when no transport works. It probes qemu-system-x86_64, as Run
// does for a Spec.QEMU of "".
func ResolveShareTransport(want string) (transport, why string, err error) {
	return resolveShareTransport(want, qemuBinary)
}

// resolveShareTransport is ResolveShareTransport for the QEMU binary bin.
func resolveShareTransport(want, bin string) (transport, why string, err error) {
	if want == "" || want == "auto" {
		if env := os.Getenv(ShareTransportEnv); env != "" && env != "auto" {
			want = env
			why = ShareTransportEnv + "=" + env
		}
	}
	caps := probeQEMU(bin)
	switch want {
	case proto.TransportVirtiofs:
		if err := virtiofsUsable(caps, bin); err != nil {
			return "", "", err
		}
		return want, why, nil
	case proto.Transport9P:
		if !caps.virtio9P {
			return "", "", fmt.Errorf("QEMU (%s) has no virtio-9p-pci device", bin)
		}
		return want, why, nil
	case "", "auto":
	default:
		return "", "", fmt.Errorf("unknown share transport %q (want auto, virtiofs or 9p)", want)
	}
	verr := virtiofsUsable(caps, bin)
	if verr == nil {
		return proto.TransportVirtiofs, "", nil
	}
	if caps.virtio9P {
		return proto.Transport9P, fmt.Sprintf("FALLING BACK to 9p: %v", verr), nil
	}
	return "", "", fmt.Errorf("no way to share a directory: %v, and QEMU has no virtio-9p-pci", verr)
}

// virtiofsUsable says why virtiofs cannot be used here with QEMU bin,
// whose capabilities are caps (nil: it can).
func virtiofsUsable(caps qemuCaps, bin string) error {
	fi, err := os.Stat(VirtiofsdPath)
	switch {
	case err != nil:
		return fmt.Errorf("no virtiofsd (%s): install qemu-system-common", VirtiofsdPath)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable", VirtiofsdPath)
	case !caps.vhostUserFS:
		return fmt.Errorf("QEMU (%s) has no vhost-user-fs-pci device", bin)
	}
	return nil
}

// checkShares refuses shares QEMU's command line cannot carry or that do
// not exist, and more than MaxShares.
func checkShares(shares []Share) error {
	if len(shares) > MaxShares {
		return fmt.Errorf("%d shares: at most %d", len(shares), MaxShares)
	}
	seen := map[string]bool{}
	for _, s := range shares {
		if !shareTag.MatchString(s.Tag) {
			return fmt.Errorf("share tag %q: want 1-36 letters, digits, '-' or '_'", s.Tag)
		}
		if seen[s.Tag] {
			return fmt.Errorf("share tag %q given twice", s.Tag)
		}
		seen[s.Tag] = true
		if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("share %s: %s is not a directory", s.Tag, s.Dir)
		}
	}
	return nil
}

// qemuOptValue escapes v for a QEMU option list (-device a=b,c=d): a
// comma is doubled.
func qemuOptValue(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// SharedMemory is the guest's RAM as a shared memfd, which vhost-user
// devices (virtiofsd) map: it replaces Memory when the machine has a
// virtiofs share.
type SharedMemory struct{ MiB int }

func (SharedMemory) machineOption() {}
func (m SharedMemory) QEMUArgs() []string {
	return []string{"-m", fmt.Sprint(m.MiB),
		"-object", fmt.Sprintf("memory-backend-memfd,id=mem,size=%dM,share=on", m.MiB),
		"-numa", "node,memdev=mem"}
}
func (SharedMemory) KArgs() []string { return nil }

// VirtioFS is a share served by a virtiofsd on Socket.
type VirtioFS struct {
	ID, Tag, Socket string
}

func (v VirtioFS) QEMUArgs() []string {
	return []string{"-chardev", "socket,id=" + v.ID + ",path=" + qemuOptValue(v.Socket),
		"-device", "vhost-user-fs-pci,chardev=" + v.ID + ",tag=" + v.Tag}
}
func (VirtioFS) KArgs() []string { return nil }

// NineP is a share exported by QEMU itself over virtio-9p, read-only
// (QEMU refuses every write: readonly=on).
type NineP struct {
	ID, Tag, Dir string
}

func (n NineP) QEMUArgs() []string {
	return []string{"-fsdev", "local,id=" + n.ID + ",path=" + qemuOptValue(n.Dir) + ",security_model=none,readonly=on",
		"-device", "virtio-9p-pci,fsdev=" + n.ID + ",mount_tag=" + n.Tag}
}
func (NineP) KArgs() []string { return nil }

// shareDevices returns the devices of shares over transport, the
// virtiofs sockets in dir.
func shareDevices(shares []Share, transport, dir string) []Device {
	var devs []Device
	for i, s := range shares {
		id := fmt.Sprintf("fs%d", i)
		if transport == proto.TransportVirtiofs {
			devs = append(devs, VirtioFS{ID: id, Tag: s.Tag, Socket: filepath.Join(dir, id+".sock")})
		} else {
			devs = append(devs, NineP{ID: id, Tag: s.Tag, Dir: s.Dir})
		}
	}
	return devs
}

// viewProc is a process started in a read-only view of a directory
// (startInView).
type viewProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited and been reaped
}

// kill ends the process's group and waits until the process is reaped.
// It may be called any number of times.
func (p *viewProc) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// startInView starts cmd in a private mount namespace in which mnt (an
// empty directory) is a recursive read-only bind mount of dir (see
// readOnlyView), in its own process group and with Pdeathsig SIGKILL. Its
// SysProcAttr is set here. The namespace belongs to one OS thread, locked
// and never unlocked, which forks cmd (a locked goroutine's exec.Cmd forks
// from its own thread, so the child starts in that thread's namespace)
// and then waits for it: the thread, and with it the namespace, ends once
// cmd is reaped, never before (Pdeathsig fires when the thread that
// started a process ends, so it must not end first). Nothing of the view
// is visible outside: mnt stays an empty directory for everyone else.
func startInView(dir, mnt string, cmd *exec.Cmd) (*viewProc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &viewProc{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer close(p.exited)
		if err := readOnlyView(dir, mnt); err != nil {
			started <- fmt.Errorf("read-only view of %s: %w", dir, err)
			return
		}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("starting %s: %w", cmd.Path, err)
			return
		}
		started <- nil
		cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// readOnlyView puts the calling thread, which must be locked to its
// goroutine and never unlocked, in a private mount namespace (no mount
// event propagates back to the host's) where mnt is a recursive bind
// mount of dir made read-only, nodev and nosuid recursively: dir and
// every mount below it (for "/", /proc, /sys, /dev, /home...) refuse
// every write with EROFS, device nodes cannot be opened. Without
// mount_setattr(2) (Linux < 5.12) it fails rather than protect the top
// mount only.
func readOnlyView(dir, mnt string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount(dir, mnt, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if err := unix.MountSetattr(unix.AT_FDCWD, mnt, unix.AT_RECURSIVE, attr); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("mount_setattr(2) is missing (Linux before 5.12): the mounts below %s cannot be made read-only", dir)
		}
		return fmt.Errorf("mount_setattr read-only: %w", err)
	}
	return nil
}

// virtiofsd is one running virtiofsd and its output (bounded).
type virtiofsd struct {
	*viewProc
	stderr *tail.Buffer
}

// virtiofsdWait bounds how long a virtiofsd may take to make its socket.
var virtiofsdWait = 10 * time.Second

// startVirtiofsd starts a virtiofsd serving dir on socket and waits until
// the socket exists. Read-only is enforced here, on the host: QEMU 7.2's
// virtiofsd has no such option, so it runs in a read-only view of dir
// (startInView) and serves mnt, an empty directory of the machine's: no
// write of the guest reaches dir or any mount below it. A virtiofsd that
// exits, or makes no socket within virtiofsdWait (it is then killed), is
// an error naming its output; on error nothing is left running.
func startVirtiofsd(dir, mnt, socket string) (*virtiofsd, error) {
	if len(socket) > maxSocketPath {
		return nil, fmt.Errorf("virtiofsd socket %s is longer than %d bytes", socket, maxSocketPath)
	}
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return nil, err
	}
	stderr := tail.New(16 << 10)
	cmd := exec.Command(VirtiofsdPath, "-f", "--socket-path="+socket, "-o", "source="+mnt,
		"-o", "cache=auto", "-o", "sandbox=namespace", "-o", "log_level=warn")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	p, err := startInView(dir, mnt, cmd)
	if err != nil {
		return nil, err
	}
	v := &virtiofsd{viewProc: p, stderr: stderr}
	deadline := time.Now().Add(virtiofsdWait)
	for {
		if _, err := os.Stat(socket); err == nil {
			return v, nil
		}
		select {
		case <-v.exited:
			return nil, fmt.Errorf("virtiofsd for %s exited (%v) before making its socket: %s", dir, v.cmd.ProcessState, strings.TrimSpace(v.stderr.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			v.kill()
			return nil, fmt.Errorf("virtiofsd for %s made no socket within %s: %s", dir, virtiofsdWait, strings.TrimSpace(v.stderr.String()))
		}
	}
}

// startShares checks the spec's shares, resolves their transport (set in
// spec) and, for virtiofs, starts one virtiofsd per share in the
// machine's directory. Under auto, virtiofsd that cannot start gives way
// to 9p for this machine. Why the transport is not virtiofs under auto is
// in shareReason and told to spec.Logf. On error the caller's close stops
// the virtiofsd processes already started.
func (in *instance) startShares(spec *Spec) error {
	if len(spec.Shares) == 0 {
		return nil
	}
	if err := checkShares(spec.Shares); err != nil {
		return err
	}
	tr, why, err := resolveShareTransport(spec.ShareTransport, spec.QEMU)
	if err != nil {
		return err
	}
	if tr == proto.TransportVirtiofs {
		err = in.startVirtiofsds(spec.Shares)
		auto := spec.ShareTransport == "" || spec.ShareTransport == "auto"
		if err != nil && auto && why == "" && probeQEMU(spec.QEMU).virtio9P {
			in.stopShares()
			tr, why = proto.Transport9P, fmt.Sprintf("FALLING BACK to 9p: %v", err)
		} else if err != nil {
			return err
		}
	}
	if why != "" && spec.Logf != nil {
		spec.Logf("shares over %s: %s", tr, why)
	}
	spec.shareTransport, in.shareTransport, in.shareReason = tr, tr, why
	return nil
}

// startVirtiofsds starts the shares' virtiofsd processes (in.fsds).
func (in *instance) startVirtiofsds(shares []Share) error {
	for i, s := range shares {
		id := fmt.Sprintf("fs%d", i)
		v, err := startVirtiofsd(s.Dir, filepath.Join(in.dir, id+".ro"), filepath.Join(in.dir, id+".sock"))
		if err != nil {
			return err
		}
		in.fsds = append(in.fsds, v)
	}
	return nil
}

// stopShares kills the virtiofsd processes and waits until they are
// reaped. It may be called any number of times.
func (in *instance) stopShares() {
	for _, v := range in.fsds {
		v.kill()
	}
	in.fsds = nil
}
