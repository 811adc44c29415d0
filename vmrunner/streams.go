package vmrunner

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/kvmtest/kvmtest/triage"
)

// readLine reads one '\n'-terminated line, discarding the part of a line
// beyond max (the guest is untrusted: a line without end must not eat memory).
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) <= max {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}

// limitWriter passes at most max bytes to w, then one truncation marker.
type limitWriter struct {
	w         io.Writer
	max, n    int64
	truncated bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.w == nil {
		return len(p), nil
	}
	if l.n >= l.max {
		if !l.truncated {
			l.truncated = true
			fmt.Fprintf(l.w, "\n[kvmtest: console truncated after %d bytes]\n", l.max)
		}
		return len(p), nil
	}
	q := p
	if int64(len(q)) > l.max-l.n {
		q = q[:l.max-l.n]
	}
	n, err := l.w.Write(q)
	l.n += int64(n)
	if err != nil {
		return n, err
	}
	return len(p), nil
}

// lastLines joins the last n lines of s with " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// lockedScanner serialises the console reader's writes with the main
// loop's reads of a triage.Scanner.
type lockedScanner struct {
	mu sync.Mutex
	s  *triage.Scanner
}

func (l *lockedScanner) Write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.Write(p)
}

func (l *lockedScanner) Fatal() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Fatal()
}

func (l *lockedScanner) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.Flush()
}

func (l *lockedScanner) Findings() []triage.Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Findings()
}
