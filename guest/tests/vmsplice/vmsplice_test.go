//go:build linux

package vmsplice

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// spliceAll splices n bytes from the pipe r to fd (at offset off, if not
// nil).
func spliceAll(t *testing.T, r, fd int, off *int64, n int) {
	t.Helper()
	for n > 0 {
		m, err := unix.Splice(r, nil, fd, off, n, 0)
		if err != nil {
			t.Fatalf("splice: %v", err)
		}
		if m == 0 {
			t.Fatalf("splice: pipe empty with %d bytes to go", n)
		}
		n -= int(m)
	}
}

// vmspliceOnePage vmsplices page into the pipe w and checks it went in
// whole.
func vmspliceOnePage(t *testing.T, w int, page []byte) {
	t.Helper()
	n, err := vmsplice(w, 0, page)
	if err != nil || n != len(page) {
		t.Fatalf("vmsplice: %d, %v; want %d", n, err, len(page))
	}
}

const sharesPages = "vmsplice shares the user pages with the pipe"

// TestVmspliceBufferIsStable: a buffer changed after vmsplice does not
// change what the pipe holds.
func TestVmspliceBufferIsStable(t *testing.T) {
	page := mapAnon(t, pageSize, 'A')
	r, w := newPipe(t, 0)
	vmspliceOnePage(t, w, page)
	fillBytes(page, 'B')
	checkStable(t, readFull(t, r, pageSize), 'A', 'B', sharesPages)
}

// TestVmspliceBufferIsStableThroughTee: the same, seen through tee(2) into
// a second pipe.
func TestVmspliceBufferIsStableThroughTee(t *testing.T) {
	page := mapAnon(t, pageSize, 'A')
	r1, w1 := newPipe(t, 0)
	r2, w2 := newPipe(t, 0)
	vmspliceOnePage(t, w1, page)
	n, err := unix.Tee(r1, w2, pageSize, 0)
	if err != nil || n != int64(pageSize) {
		t.Fatalf("tee: %d, %v", n, err)
	}
	fillBytes(page, 'B')
	checkStable(t, readFull(t, r2, pageSize), 'A', 'B', sharesPages+" (and tee passes them on)")
	readFull(t, r1, pageSize)
}

// TestVmspliceBufferIsStableThroughSpliceToFile: the same, seen in a file
// the pipe is spliced to.
func TestVmspliceBufferIsStableThroughSpliceToFile(t *testing.T) {
	page := mapAnon(t, pageSize, 'A')
	r, w := newPipe(t, 0)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	vmspliceOnePage(t, w, page)
	fillBytes(page, 'B')
	var off int64
	spliceAll(t, r, fd, &off, pageSize)
	got := make([]byte, pageSize)
	if n, err := unix.Pread(fd, got, 0); err != nil || n != pageSize {
		t.Fatalf("pread: %d, %v", n, err)
	}
	checkStable(t, got, 'A', 'B', sharesPages+" (the file got the changed bytes)")
}

// TestVmspliceBufferIsStableThroughSpliceToUnixSocket: the same, seen on
// the other end of an AF_UNIX stream socket the pipe is spliced to.
func TestVmspliceBufferIsStableThroughSpliceToUnixSocket(t *testing.T) {
	page := mapAnon(t, pageSize, 'A')
	r, w := newPipe(t, 0)
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	vmspliceOnePage(t, w, page)
	fillBytes(page, 'B')
	spliceAll(t, r, sp[0], nil, pageSize)
	checkStable(t, readFull(t, sp[1], pageSize), 'A', 'B', sharesPages+" (the socket got the changed bytes)")
}

// TestVmspliceSharedFilePageIsStableAfterPwrite: a MAP_SHARED file page
// given to vmsplice and then changed by pwrite(2) on the file does not
// change what the pipe holds.
func TestVmspliceSharedFilePageIsStableAfterPwrite(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "shared"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if _, err := unix.Pwrite(fd, bytes.Repeat([]byte{'A'}, pageSize), 0); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer unix.Munmap(m)
	if m[0] != 'A' || m[pageSize-1] != 'A' { // also faults the page in
		t.Fatalf("mapping reads %s", describe(m))
	}
	r, w := newPipe(t, 0)
	vmspliceOnePage(t, w, m)
	if _, err := unix.Pwrite(fd, bytes.Repeat([]byte{'B'}, pageSize), 0); err != nil {
		t.Fatal(err)
	}
	checkStable(t, readFull(t, r, pageSize), 'A', 'B', "vmsplice shares the page cache page with the pipe")
}

// TestVmspliceNonblockFillsPipe: a non-blocking vmsplice of more than an
// empty pipe holds, from a buffer that does not start on a page boundary,
// fills the pipe to its capacity (65536 patched; 65436 unpatched, one pipe
// slot per page touched).
func TestVmspliceNonblockFillsPipe(t *testing.T) {
	const size = 1 << 20
	buf := mapAnon(t, size+pageSize, 'x')
	r, w := newPipe(t, 0)
	capacity := pipeSize(t, w)
	n, err := vmsplice(w, unix.SPLICE_F_NONBLOCK, buf[100:100+size])
	t.Logf("vmsplice(1 MiB at page offset 100, SPLICE_F_NONBLOCK) into an empty %d-byte pipe: %d, %v", capacity, n, errnoName(err))
	if err != nil {
		t.Fatalf("vmsplice: %v", err)
	}
	if n != capacity {
		t.Errorf("wrote %d bytes, want the pipe's capacity %d", n, capacity)
	}
	if got := drain(r); got != n {
		t.Errorf("read %d bytes back, want %d", got, n)
	}
}

// TestVmspliceNonblockMergesSmallIovecs: small iovecs share pipe pages, as
// with write(2): 32 one-byte iovecs all go in (unpatched: 16, one pipe
// slot each).
func TestVmspliceNonblockMergesSmallIovecs(t *testing.T) {
	buf := mapAnon(t, pageSize, 0)
	bufs := make([][]byte, 32)
	for i := range bufs {
		buf[i] = byte('a' + i%26)
		bufs[i] = buf[i : i+1]
	}
	r, w := newPipe(t, 0)
	n, err := vmsplice(w, unix.SPLICE_F_NONBLOCK, bufs...)
	t.Logf("vmsplice(32 one-byte iovecs, SPLICE_F_NONBLOCK): %d, %v", n, errnoName(err))
	if err != nil {
		t.Fatalf("vmsplice: %v", err)
	}
	if n != 32 {
		t.Errorf("wrote %d of 32 bytes: each iovec took a pipe slot of its own", n)
	}
	if got := readFull(t, r, n); !bytes.Equal(got, buf[:n]) {
		t.Errorf("read back %q, want %q", got, buf[:n])
	}
}

// TestVmspliceHonoursONonblock: on a pipe opened O_NONBLOCK, vmsplice with
// flags 0 fails with EAGAIN instead of waiting, for writing to a full pipe
// and for reading from an empty one (unpatched: it blocks).
func TestVmspliceHonoursONonblock(t *testing.T) {
	t.Run("write-full", func(t *testing.T) {
		page := mapAnon(t, pageSize, 'A')
		r, w := newPipe(t, unix.O_NONBLOCK)
		filler := make([]byte, 1<<16)
		filled := 0
		for {
			n, err := unix.Write(w, filler)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				t.Fatalf("filling the pipe: %v", err)
			}
			filled += n
		}
		res, blocked := guarded(t, func() (int, error) { return vmsplice(w, 0, page) },
			func(done <-chan struct{}) { keepDraining(r, done) })
		t.Logf("vmsplice(flags 0) into a full (%d bytes) O_NONBLOCK pipe: blocked=%v, then %d, %v", filled, blocked, res.n, errnoName(res.err))
		if blocked {
			t.Errorf("vmsplice blocked on a full O_NONBLOCK pipe, want EAGAIN")
		} else if !errors.Is(res.err, unix.EAGAIN) {
			t.Errorf("vmsplice: %d, %v; want EAGAIN", res.n, errnoName(res.err))
		}
	})
	t.Run("read-empty", func(t *testing.T) {
		buf := mapAnon(t, pageSize, 0)
		r, w := newPipe(t, unix.O_NONBLOCK)
		res, blocked := guarded(t, func() (int, error) { return vmsplice(r, 0, buf) },
			func(<-chan struct{}) { unix.Write(w, []byte("x")) })
		t.Logf("vmsplice(flags 0) from an empty O_NONBLOCK pipe: blocked=%v, then %d, %v", blocked, res.n, errnoName(res.err))
		if blocked {
			t.Errorf("vmsplice blocked on an empty O_NONBLOCK pipe, want EAGAIN")
		} else if !errors.Is(res.err, unix.EAGAIN) {
			t.Errorf("vmsplice: %d, %v; want EAGAIN", res.n, errnoName(res.err))
		}
	})
}

// TestVmsplicePartialWriteWithoutReader: a blocking vmsplice of more than
// the pipe holds, with nobody reading, returns the partial count at once
// instead of waiting for a reader (upstream v1 regressed here: LTP
// vmsplice01 hung).
func TestVmsplicePartialWriteWithoutReader(t *testing.T) {
	const size = 128 << 10
	buf := mapAnon(t, size, 'x')
	r, w := newPipe(t, 0)
	capacity := pipeSize(t, w)
	res, blocked := guarded(t, func() (int, error) { return vmsplice(w, 0, buf) },
		func(done <-chan struct{}) { keepDraining(r, done) })
	t.Logf("vmsplice(128 KiB, flags 0) into an empty %d-byte pipe, no reader: blocked=%v, then %d, %v", capacity, blocked, res.n, errnoName(res.err))
	switch {
	case blocked:
		t.Errorf("vmsplice blocked until a reader came, want a partial count of %d at once", capacity)
	case res.err != nil:
		t.Errorf("vmsplice: %v", res.err)
	case res.n != capacity:
		t.Errorf("wrote %d bytes, want %d", res.n, capacity)
	}
}

// TestVmspliceReadRespectsPacketBoundaries: reading a packet-mode
// (O_DIRECT) pipe with vmsplice returns one packet, as read(2) does
// (unpatched: both packets, 6 bytes).
func TestVmspliceReadRespectsPacketBoundaries(t *testing.T) {
	r, w := newPipe(t, unix.O_DIRECT)
	for _, p := range []string{"abc", "def"} {
		if _, err := unix.Write(w, []byte(p)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	buf := mapAnon(t, pageSize, 0)
	n, err := vmsplice(r, 0, buf[:10])
	t.Logf("vmsplice-read of 10 bytes from a packet pipe holding \"abc\",\"def\": %d %q, %v", n, buf[:max(n, 0)], errnoName(err))
	if err != nil {
		t.Fatalf("vmsplice: %v", err)
	}
	if n != 3 || string(buf[:3]) != "abc" {
		t.Errorf("read %q, want the first packet \"abc\"", buf[:n])
	}
}

// rawVmsplice is vmsplice(2) with a raw iovec address.
func rawVmsplice(fd int, iov uintptr, nr, flags int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_VMSPLICE, uintptr(fd), iov, uintptr(nr), uintptr(flags), 0, 0)
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// TestVmspliceRegularFileIsEBADF: vmsplice on anything but a pipe fails
// with EBADF before looking at the iovecs (unpatched: 0 for no iovecs,
// EINVAL for too many, EFAULT for a bad pointer).
func TestVmspliceRegularFileIsEBADF(t *testing.T) {
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "regular"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	one := mapAnon(t, pageSize, 'x')
	many := make([][]byte, 1025)
	for i := range many {
		many[i] = one[:1]
	}
	for _, tc := range []struct {
		name string
		call func() (int, error)
	}{
		{"no-iovecs", func() (int, error) { return rawVmsplice(fd, 0, 0, 0) }},
		{"1025-iovecs", func() (int, error) { return vmsplice(fd, 0, many...) }},
		{"bad-iovec-pointer", func() (int, error) { return rawVmsplice(fd, 8, 1, 0) }},
		{"one-iovec", func() (int, error) { return vmsplice(fd, 0, one) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.call()
			t.Logf("vmsplice on a regular file, %s: %d, %s", tc.name, n, errnoName(err))
			if !errors.Is(err, unix.EBADF) {
				t.Errorf("got %d, %s; want EBADF", n, errnoName(err))
			}
		})
	}
}

// TestVmsplicePwritev2NowaitAfterVmsplice: after a vmsplice into a pipe,
// pwritev2(RWF_NOWAIT) on the same end works.
func TestVmsplicePwritev2NowaitAfterVmsplice(t *testing.T) {
	page := mapAnon(t, pageSize, 'A')
	r, w := newPipe(t, 0)
	vmspliceOnePage(t, w, page)
	n, err := unix.Pwritev2(w, [][]byte{[]byte("after")}, -1, unix.RWF_NOWAIT)
	t.Logf("pwritev2(RWF_NOWAIT) after one vmsplice: %d, %s", n, errnoName(err))
	if err != nil || n != 5 {
		t.Errorf("pwritev2: %d, %s; want 5", n, errnoName(err))
	}
	drain(r)
}

// TestVmspliceFromSecretMemory: vmsplice copies from memory the kernel
// cannot pin, such as memfd_secret(2) memory (unpatched: EFAULT).
func TestVmspliceFromSecretMemory(t *testing.T) {
	fd, err := unix.MemfdSecret(0)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("no memfd_secret in this kernel (CONFIG_SECRETMEM, secretmem.enable)")
	}
	if err != nil {
		t.Fatalf("memfd_secret: %v", err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(pageSize)); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	m, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer unix.Munmap(m)
	fillBytes(m, 'S')
	r, w := newPipe(t, 0)
	n, err := vmsplice(w, 0, m)
	t.Logf("vmsplice of a memfd_secret page: %d, %s", n, errnoName(err))
	if err != nil || n != pageSize {
		t.Fatalf("got %d, %s; want %d", n, errnoName(err), pageSize)
	}
	if got := readFull(t, r, n); !bytes.Equal(got, m) {
		t.Errorf("read back %s", describe(got))
	}
}

// TestVmspliceReaderClosedIsEPIPE: writing to a pipe whose reader is
// closed fails with EPIPE (the Go runtime ignores the SIGPIPE for
// descriptors other than 1 and 2).
func TestVmspliceReaderClosedIsEPIPE(t *testing.T) {
	page := mapAnon(t, pageSize, 'A')
	r, w := newPipe(t, 0)
	unix.Close(r)
	res, blocked := guarded(t, func() (int, error) { return vmsplice(w, 0, page) }, func(<-chan struct{}) { unix.Close(w) })
	t.Logf("vmsplice with the reader closed: blocked=%v, %d, %s", blocked, res.n, errnoName(res.err))
	if blocked || !errors.Is(res.err, unix.EPIPE) {
		t.Errorf("got %d, %s (blocked=%v); want EPIPE", res.n, errnoName(res.err), blocked)
	}
}

// TestVmspliceRejectsBadArguments: too many iovecs and unknown flags are
// EINVAL; a closed descriptor and a socket are EBADF.
func TestVmspliceRejectsBadArguments(t *testing.T) {
	page := mapAnon(t, pageSize, 'x')
	_, w := newPipe(t, 0)
	tooMany := make([][]byte, 1025) // IOV_MAX+1
	for i := range tooMany {
		tooMany[i] = page[:1]
	}
	var closed [2]int
	if err := unix.Pipe2(closed[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(closed[0])
	unix.Close(closed[1])
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	for _, tc := range []struct {
		name string
		call func() (int, error)
		want unix.Errno
	}{
		{"IOV_MAX+1-iovecs", func() (int, error) { return vmsplice(w, 0, tooMany...) }, unix.EINVAL},
		{"unknown-flag", func() (int, error) { return vmsplice(w, 1<<4, page) }, unix.EINVAL},
		{"closed-fd", func() (int, error) { return vmsplice(closed[1], 0, page) }, unix.EBADF},
		{"socket", func() (int, error) { return vmsplice(sp[0], 0, page) }, unix.EBADF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.call()
			t.Logf("%s: %d, %s", tc.name, n, errnoName(err))
			if !errors.Is(err, tc.want) {
				t.Errorf("got %d, %s; want %s", n, errnoName(err), unix.ErrnoName(tc.want))
			}
		})
	}
}
