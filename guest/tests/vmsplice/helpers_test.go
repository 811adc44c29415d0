//go:build linux

package vmsplice

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blockWait is how long a call may take before it counts as blocked.
const blockWait = 2 * time.Second

var pageSize = os.Getpagesize()

// mapAnon returns n bytes of private anonymous memory without huge pages,
// filled with fill (which also faults every page in).
func mapAnon(tb testing.TB, n int, fill byte) []byte {
	tb.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		tb.Fatalf("mmap %d bytes: %v", n, err)
	}
	tb.Cleanup(func() { unix.Munmap(b) })
	// EINVAL: a kernel without transparent huge pages, which is fine.
	if err := unix.Madvise(b, unix.MADV_NOHUGEPAGE); err != nil && !errors.Is(err, unix.EINVAL) {
		tb.Fatalf("madvise(MADV_NOHUGEPAGE): %v", err)
	}
	fillBytes(b, fill)
	return b
}

func fillBytes(b []byte, c byte) {
	for i := range b {
		b[i] = c
	}
}

// newPipe returns the read and write ends of a new pipe made with pipe2(2)
// and flags (O_CLOEXEC is added), closed at the end of the test.
func newPipe(tb testing.TB, flags int) (r, w int) {
	tb.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], flags|unix.O_CLOEXEC); err != nil {
		tb.Fatalf("pipe2: %v", err)
	}
	tb.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// pipeSize is the capacity of the pipe fd in bytes.
func pipeSize(tb testing.TB, fd int) int {
	tb.Helper()
	n, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		tb.Fatalf("F_GETPIPE_SZ: %v", err)
	}
	return n
}

// iovecs returns one iovec per buffer.
func iovecs(bufs ...[]byte) []unix.Iovec {
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		iov[i].Base = unsafe.SliceData(b)
		iov[i].SetLen(len(b))
	}
	return iov
}

// vmsplice calls vmsplice(2) with one iovec per buffer.
func vmsplice(fd int, flags int, bufs ...[]byte) (int, error) {
	return unix.Vmsplice(fd, iovecs(bufs...), flags)
}

// readFull reads n bytes from fd, waiting at most blockWait for each
// piece (fd may be blocking or not).
func readFull(tb testing.TB, fd, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	for off := 0; off < n; {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		k, err := unix.Poll(pfd, int(blockWait/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			tb.Fatalf("poll: %v", err)
		}
		if k == 0 {
			tb.Fatalf("read %d of %d bytes, then nothing for %v", off, n, blockWait)
		}
		m, err := unix.Read(fd, b[off:])
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			tb.Fatalf("read: %v", err)
		}
		if m == 0 {
			tb.Fatalf("read %d of %d bytes, then end of file", off, n)
		}
		off += m
	}
	return b
}

// drain reads whatever the pipe fd holds, without waiting for more.
func drain(fd int) int {
	buf := make([]byte, 1<<16)
	total := 0
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if k, _ := unix.Poll(pfd, 0); k <= 0 || pfd[0].Revents&unix.POLLIN == 0 {
			return total
		}
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			return total
		}
		total += n
	}
}

// describe summarizes b as runs of equal bytes: "'A' x4096" or
// "'A' x100, 'B' x3996".
func describe(b []byte) string {
	var runs []string
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && b[j] == b[i] {
			j++
		}
		if len(runs) == 8 {
			runs = append(runs, "...")
			break
		}
		runs = append(runs, fmt.Sprintf("%q x%d", b[i], j-i))
		i = j
	}
	if len(runs) == 0 {
		return "nothing"
	}
	return strings.Join(runs, ", ")
}

// checkStable asserts that got holds only the bytes first written (orig),
// not those the buffer was changed to afterwards (changed).
func checkStable(t *testing.T, got []byte, orig, changed byte, shares string) {
	t.Helper()
	d := describe(got)
	t.Logf("read back %s", d)
	switch {
	case strings.Count(string(got), string(orig)) == len(got):
		// The contract holds.
	case strings.Count(string(got), string(changed)) == len(got):
		t.Errorf("read back %s: %s", d, shares)
	default:
		t.Errorf("read back %s: neither the original bytes nor the changed ones", d)
	}
}

// result is what a guarded call returned.
type result struct {
	n   int
	err error
}

// guarded runs call, which may block. If it has not returned within
// blockWait, it calls release, which must make call return (by draining or
// filling the pipe; it gets a channel closed once call returned, and must
// return soon after), and reports blocked once both are done. A call that
// release cannot free fails the test.
func guarded(t *testing.T, call func() (int, error), release func(done <-chan struct{})) (res result, blocked bool) {
	t.Helper()
	ch := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		n, err := call()
		ch <- result{n, err}
		close(done)
	}()
	select {
	case res = <-ch:
		return res, false
	case <-time.After(blockWait):
	}
	t.Logf("the call blocked for %v; releasing it", blockWait)
	released := make(chan struct{})
	go func() {
		release(done)
		close(released)
	}()
	select {
	case res = <-ch:
		// Wait for release to stop touching the fd: once the test ends
		// its pipe is closed and the fd number is reused by the next
		// test's pipe, which a late read would steal from.
		<-released
		return res, true
	case <-time.After(5 * time.Second):
		t.Fatalf("the call still blocks after being released")
		panic("unreachable")
	}
}

// keepDraining reads the pipe fd until done is closed, without blocking
// past it.
func keepDraining(fd int, done <-chan struct{}) {
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-done:
			return
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, 50); n > 0 {
			unix.Read(fd, buf)
		}
	}
}

// errnoName is err's symbolic name ("EAGAIN"), or "ok".
func errnoName(err error) string {
	var e unix.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e):
		if name := unix.ErrnoName(e); name != "" {
			return name
		}
	}
	return err.Error()
}
