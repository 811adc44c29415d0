// Package tail keeps the end of a stream: the last bytes of a build log or
// of a program's output, for an error message.
package tail

import "sync"

// Buffer is an io.Writer that keeps the last max bytes written to it and
// drops what came before. It is safe for concurrent use: one goroutine may
// write (a command's output) while another reads.
type Buffer struct {
	mu  sync.Mutex
	max int
	buf []byte // the tail is buf[len(buf)-min(len(buf), max):]
}

// New returns a Buffer that keeps the last max bytes (none when max <= 0).
func New(max int) *Buffer {
	if max < 0 {
		max = 0
	}
	return &Buffer{max: max}
}

// Write keeps the end of p. It always accepts all of p: it returns len(p)
// and a nil error.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > b.max {
		p = p[len(p)-b.max:]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// buf grows to at most 2*max before the tail is moved to its front, so
	// that a stream of small writes costs O(1) per byte, not O(max).
	if len(b.buf)+len(p) > 2*b.max {
		keep := b.max - len(p)
		if keep > len(b.buf) {
			keep = len(b.buf)
		}
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-keep:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// Bytes returns a copy of the last max bytes written (fewer if fewer were).
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.buf
	if len(t) > b.max {
		t = t[len(t)-b.max:]
	}
	return append([]byte(nil), t...)
}

// String returns the last max bytes written as a string.
func (b *Buffer) String() string { return string(b.Bytes()) }
