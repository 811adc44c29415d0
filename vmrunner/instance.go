package vmrunner

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kvmtest/kvmtest/internal/tail"
)

// instance is one QEMU process and its host ends: a private directory
// (see makePrivateDir) with the console and event sockets the runner
// listens on, the process itself (started paused), its stderr tail, and,
// once connected, the two serial connections and the QMP client.
type instance struct {
	dir       string
	conL, evL net.Listener
	argv      []string
	cmd       *exec.Cmd
	stderr    *tail.Buffer
	started   time.Time
	exited    chan struct{} // closed once QEMU has exited and waitErr, exitedAt are set
	waitErr   error
	exitedAt  time.Time
	con, ev   net.Conn
	qmp       *qmpConn
	version   string // QEMU's version as QMP gave it ("" if it did not)
	// The shares' transport, why it is not virtiofs under auto, and the
	// virtiofsd processes serving them (killed after QEMU by close).
	shareTransport, shareReason string
	fsds                        []*virtiofsd
}

// start creates the sockets and starts QEMU for spec under accel (see
// Spec.devices). Every error is an *InfraError, and on error nothing is
// left behind; otherwise the caller must call close.
func start(spec Spec, accel string) (_ *instance, err error) {
	for _, f := range []string{spec.Kernel, spec.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, &InfraError{err}
		}
	}
	dir, err := makePrivateDir(spec.TempDir)
	if err != nil {
		return nil, &InfraError{err}
	}
	in := &instance{dir: dir, stderr: tail.New(64 << 10)}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	if in.conL, err = net.Listen("unix", filepath.Join(dir, conSock)); err != nil {
		return nil, &InfraError{err}
	}
	if in.evL, err = net.Listen("unix", filepath.Join(dir, evSock)); err != nil {
		return nil, &InfraError{err}
	}
	if err := in.startShares(&spec); err != nil {
		return nil, &InfraError{err}
	}
	in.argv = spec.argv(accel, dir, probeQEMU(spec.QEMU))
	cmd := exec.Command(in.argv[0], in.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Ctrl-C reaches us, not QEMU: we stop it ourselves
		Pdeathsig: syscall.SIGKILL, // and it dies with us if we are killed outright
	}
	cmd.Stdout = in.stderr
	cmd.Stderr = in.stderr
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, &InfraError{fmt.Errorf("starting QEMU: %w", err)}
	}
	in.cmd = cmd
	in.exited = make(chan struct{})
	go func() { in.waitErr = cmd.Wait(); in.exitedAt = time.Now(); close(in.exited) }()
	return in, nil
}

// connect takes QEMU's connections to the console and event sockets
// (made during its start-up) and connects to its QMP socket. Asked for
// KVM, it checks that QEMU really has it enabled.
func (in *instance) connect(ctx context.Context, accel string) error {
	var err error
	if in.con, err = accept(ctx, in.conL, in.exited); err != nil {
		return fmt.Errorf("console connection: %w", err)
	}
	if in.ev, err = accept(ctx, in.evL, in.exited); err != nil {
		return fmt.Errorf("event connection: %w", err)
	}
	if in.qmp, err = dialQMP(ctx, filepath.Join(in.dir, qmpSock), in.exited); err != nil {
		return err
	}
	if v := in.qmp.mon.Version; v != nil {
		in.version = v.String()
	}
	var kvm struct {
		Enabled bool `json:"enabled"`
		Present bool `json:"present"`
	}
	if err := in.qmp.run(ctx, "query-kvm", nil, &kvm); err == nil {
		if accel == AccelKVM && !kvm.Enabled {
			return fmt.Errorf("asked QEMU for KVM but query-kvm says it is not enabled")
		}
	}
	return nil
}

// fail kills QEMU and returns res with err as an *InfraError, naming the
// last lines QEMU wrote to its stderr.
func (in *instance) fail(res *Result, err error) (*Result, error) {
	in.kill()
	res.QEMUStderr = in.stderr.String()
	if s := strings.TrimSpace(res.QEMUStderr); s != "" {
		err = fmt.Errorf("%w; QEMU said: %s", err, lastLines(s, 5))
	}
	return res, &InfraError{err}
}

// kill kills QEMU's process group and waits for QEMU to be gone. It may
// be called any number of times.
func (in *instance) kill() {
	if in.cmd == nil {
		return
	}
	syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
	<-in.exited
}

// shutdown ends a QEMU still running: it asks over QMP, waits 2s, then
// kills.
func (in *instance) shutdown() {
	select {
	case <-in.exited:
		return
	default:
	}
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	in.qmp.run(dctx, "quit", nil, nil)
	cancel()
	select {
	case <-in.exited:
	case <-time.After(2 * time.Second):
	}
	in.kill()
}

// closeConns closes the console and event connections, which ends their
// readers.
func (in *instance) closeConns() {
	for _, c := range []net.Conn{in.con, in.ev} {
		if c != nil {
			c.Close()
		}
	}
}

// close releases everything: QMP, the connections, QEMU (killed if it
// still runs), the listeners and the directory. It runs on every return
// of Run, a panic included, so QEMU never outlives it.
func (in *instance) close() {
	if in.qmp != nil {
		in.qmp.close()
	}
	in.closeConns()
	in.kill()
	in.stopShares()
	for _, l := range []net.Listener{in.conL, in.evL} {
		if l != nil {
			l.Close()
		}
	}
	os.RemoveAll(in.dir)
}

// accept waits for one connection on l, giving up when QEMU exits, after
// 30s, or when ctx ends.
func accept(ctx context.Context, l net.Listener, exited <-chan struct{}) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-exited:
		l.Close()
		return nil, fmt.Errorf("QEMU exited during start-up")
	case <-time.After(30 * time.Second):
		l.Close()
		return nil, fmt.Errorf("QEMU did not connect within 30s")
	case <-ctx.Done():
		l.Close()
		return nil, ctx.Err()
	}
}
