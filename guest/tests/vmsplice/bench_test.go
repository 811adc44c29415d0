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
