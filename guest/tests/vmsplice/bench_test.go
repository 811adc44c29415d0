//go:build linux

package vmsplice

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// benchPipe measures a writer (vmsplice or write) moving chunk-byte pieces
// into a pipe that a splice(2) reader drains to /dev/null. Both run in one
// goroutine, in turns of at most the pipe's capacity, so no call ever
// waits (not even on a kernel where vmsplice blocks until done).
func benchPipe(b *testing.B, chunk int, write func(w int, p []byte) (int, error)) {
	buf := mapAnon(b, chunk, 'x')
	r, w := newPipe(b, 0)
	// Room for a whole chunk if allowed; the default otherwise.
	unix.FcntlInt(uintptr(w), unix.F_SETPIPE_SZ, max(chunk, 1<<16))
	capacity := pipeSize(b, w)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	nullFD := int(null.Fd())
	b.SetBytes(int64(chunk))
	for b.Loop() {
		for off := 0; off < chunk; {
			n, err := write(w, buf[off:min(chunk, off+capacity)])
			if err != nil {
				b.Fatalf("writing: %v", err)
			}
			off += n
			for n > 0 {
				m, err := unix.Splice(r, nil, nullFD, nil, n, 0)
				if err != nil {
					b.Fatalf("splice: %v", err)
				}
				n -= int(m)
			}
		}
	}
}

func viaVmsplice(w int, p []byte) (int, error) { return vmsplice(w, 0, p) }
func viaWrite(w int, p []byte) (int, error)    { return unix.Write(w, p) }

func BenchmarkVmsplice4K(b *testing.B)  { benchPipe(b, 4<<10, viaVmsplice) }
func BenchmarkVmsplice64K(b *testing.B) { benchPipe(b, 64<<10, viaVmsplice) }
func BenchmarkVmsplice1M(b *testing.B)  { benchPipe(b, 1<<20, viaVmsplice) }
func BenchmarkWrite4K(b *testing.B)     { benchPipe(b, 4<<10, viaWrite) }
func BenchmarkWrite64K(b *testing.B)    { benchPipe(b, 64<<10, viaWrite) }
func BenchmarkWrite1M(b *testing.B)     { benchPipe(b, 1<<20, viaWrite) }

// BenchmarkTee64K measures tee(2) duplicating 64 KiB into a second pipe,
// both then drained to /dev/null.
func BenchmarkTee64K(b *testing.B) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	r1, w1 := newPipe(b, 0)
	r2, w2 := newPipe(b, 0)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	nullFD := int(null.Fd())
	drainTo := func(r, n int) {
		for n > 0 {
			m, err := unix.Splice(r, nil, nullFD, nil, n, 0)
			if err != nil {
				b.Fatalf("splice: %v", err)
			}
			n -= int(m)
		}
	}
	b.SetBytes(chunk)
	for b.Loop() {
		n, err := unix.Write(w1, buf)
		if err != nil {
			b.Fatal(err)
		}
		t, err := unix.Tee(r1, w2, n, 0)
		if err != nil {
			b.Fatalf("tee: %v", err)
		}
		drainTo(r2, int(t))
		drainTo(r1, n)
	}
}

// benchSpliceFileToUnix measures the page-cache path the series leaves
// alone: splice(2) from a tmpfs file into a pipe, then from the pipe into
// an AF_UNIX stream socket, whose peer reads and discards. It runs in one
// goroutine, in turns of at most the pipe's capacity, so no call waits.
func benchSpliceFileToUnix(b *testing.B, chunk int) {
	f, err := os.CreateTemp(b.TempDir(), "splice-src")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, chunk)); err != nil {
		b.Fatal(err)
	}
	fd := int(f.Fd())
	r, w := newPipe(b, 0)
	capacity := pipeSize(b, w)
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(socks[0])
	defer unix.Close(socks[1])
	unix.SetsockoptInt(socks[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 2*capacity)
	unix.SetsockoptInt(socks[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 2*capacity)
	sink := make([]byte, capacity)
	b.SetBytes(int64(chunk))
	for b.Loop() {
		for off := int64(0); off < int64(chunk); {
			in := off
			n, err := unix.Splice(fd, &in, w, nil, min(chunk-int(off), capacity), 0)
			if err != nil || n == 0 {
				b.Fatalf("splice file to pipe at %d: %d, %v", off, n, err)
			}
			off += n
			for left := n; left > 0; {
				m, err := unix.Splice(r, nil, socks[0], nil, int(left), 0)
				if err != nil {
					b.Fatalf("splice pipe to socket: %v", err)
				}
				left -= m
				for got := int64(0); got < m; {
					k, err := unix.Read(socks[1], sink[:m-got])
					if err != nil || k == 0 {
						b.Fatalf("reading the socket: %d, %v", k, err)
					}
					got += int64(k)
				}
			}
		}
	}
}

func BenchmarkSpliceFileToUnix64K(b *testing.B) { benchSpliceFileToUnix(b, 64<<10) }
func BenchmarkSpliceFileToUnix1M(b *testing.B)  { benchSpliceFileToUnix(b, 1<<20) }
