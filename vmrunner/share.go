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

// ResolveShareTransport decides how shares reach the guest: want is
// "virtiofs", "9p", or "" / "auto" (the ShareTransportEnv value when set,
// else virtiofs when virtiofsd is there and QEMU has vhost-user-fs-pci,
// else 9p when QEMU has virtio-9p-pci). why says why auto did not give
// virtiofs, for the caller to say once; err when no transport works.
func ResolveShareTransport(want string) (transport, why string, err error) {
	if want == "" || want == "auto" {
		if env := os.Getenv(ShareTransportEnv); env != "" && env != "auto" {
			want = env
			why = ShareTransportEnv + "=" + env
		}
	}
	caps := probeQEMU(qemuBinary)
	switch want {
	case proto.TransportVirtiofs:
		if err := virtiofsUsable(caps); err != nil {
			return "", "", err
		}
		return want, why, nil
	case proto.Transport9P:
		if !caps.virtio9P {
			return "", "", fmt.Errorf("QEMU (%s) has no virtio-9p-pci device", qemuBinary)
		}
		return want, why, nil
	case "", "auto":
	default:
		return "", "", fmt.Errorf("unknown share transport %q (want auto, virtiofs or 9p)", want)
	}
	verr := virtiofsUsable(caps)
	if verr == nil {
		return proto.TransportVirtiofs, "", nil
	}
	if caps.virtio9P {
		return proto.Transport9P, fmt.Sprintf("FALLING BACK to 9p: %v", verr), nil
	}
	return "", "", fmt.Errorf("no way to share a directory: %v, and QEMU has no virtio-9p-pci", verr)
}

// virtiofsUsable says why virtiofs cannot be used here (nil: it can).
func virtiofsUsable(caps qemuCaps) error {
	fi, err := os.Stat(VirtiofsdPath)
	switch {
	case err != nil:
		return fmt.Errorf("no virtiofsd (%s): install qemu-system-common", VirtiofsdPath)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable", VirtiofsdPath)
	case !caps.vhostUserFS:
		return fmt.Errorf("QEMU (%s) has no vhost-user-fs-pci device", qemuBinary)
	}
	return nil
}

// checkShares refuses shares QEMU's command line cannot carry or that do
// not exist.
func checkShares(shares []Share) error {
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

// virtiofsd is one running virtiofsd.
type virtiofsd struct {
	cmd    *exec.Cmd
	stderr *tail.Buffer
	exited chan struct{}
}

// kill ends virtiofsd's process group and waits for it.
func (v *virtiofsd) kill() {
	syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	<-v.exited
}

// virtiofsdWait bounds how long a virtiofsd may take to make its socket.
const virtiofsdWait = 10 * time.Second

// startVirtiofsd starts a virtiofsd serving dir on socket, in its own
// process group, killed if this process dies (Pdeathsig), and waits for
// its socket. Read-only is enforced here, on the host: virtiofsd has no
// such option, so it runs in a private mount namespace in which it
// serves mnt (an empty directory of the machine's), a recursive
// read-only bind mount of dir: no write of the guest reaches dir or any
// mount below it, whatever the guest mounts.
func startVirtiofsd(dir, mnt, socket string) (*virtiofsd, error) {
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return nil, err
	}
	v := &virtiofsd{stderr: tail.New(16 << 10), exited: make(chan struct{})}
	v.cmd = exec.Command(VirtiofsdPath, "-f", "--socket-path="+socket, "-o", "source="+mnt,
		"-o", "cache=auto", "-o", "sandbox=namespace", "-o", "log_level=warn")
	v.cmd.Stdout, v.cmd.Stderr = v.stderr, v.stderr
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	// The namespace is this goroutine's thread's: locked, never
	// unlocked, so it dies with the goroutine once virtiofsd is gone.
	// The goroutine lives as long as virtiofsd: Pdeathsig fires when
	// the thread that started it ends.
	go func() {
		runtime.LockOSThread()
		defer close(v.exited)
		if err := readOnlyView(dir, mnt); err != nil {
			started <- fmt.Errorf("read-only view of %s: %w", dir, err)
			return
		}
		if err := v.cmd.Start(); err != nil {
			started <- fmt.Errorf("starting virtiofsd: %w", err)
			return
		}
		started <- nil
		v.cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	deadline := time.Now().Add(virtiofsdWait)
	for {
		if _, err := os.Stat(socket); err == nil {
			return v, nil
		}
		select {
		case <-v.exited:
			return nil, fmt.Errorf("virtiofsd for %s exited: %s", dir, strings.TrimSpace(v.stderr.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			v.kill()
			return nil, fmt.Errorf("virtiofsd for %s made no socket within %s: %s", dir, virtiofsdWait, strings.TrimSpace(v.stderr.String()))
		}
	}
}

// readOnlyView puts the calling thread (locked) in a private mount
// namespace where mnt is a recursive read-only bind mount of dir.
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
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, mnt, unix.AT_RECURSIVE, attr); err != nil {
		if !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("mount_setattr read-only: %w", err)
		}
		// Before Linux 5.12: the top mount at least.
		if err := unix.Mount("", mnt, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount read-only: %w", err)
		}
	}
	return nil
}

// startShares resolves the spec's share transport (set in spec) and, for
// virtiofs, starts one virtiofsd per share in the machine's directory.
// Under auto, a virtiofsd that cannot start gives way to 9p, with the
// reason in shareReason.
func (in *instance) startShares(spec *Spec) error {
	if len(spec.Shares) == 0 {
		return nil
	}
	if err := checkShares(spec.Shares); err != nil {
		return err
	}
	tr, why, err := ResolveShareTransport(spec.ShareTransport)
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
	spec.shareTransport, in.shareTransport, in.shareReason = tr, tr, why
	return nil
}

// startVirtiofsds starts the shares' virtiofsd processes.
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

// stopShares kills the virtiofsd processes and waits for them.
func (in *instance) stopShares() {
	for _, v := range in.fsds {
		v.kill()
	}
	in.fsds = nil
}
