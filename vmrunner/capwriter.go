package vmrunner

import "sync"

// capWriter keeps the last max bytes written (QEMU's stderr tail). It is
// safe for concurrent use.
type capWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if len(c.buf) > c.max {
		c.buf = append([]byte(nil), c.buf[len(c.buf)-c.max:]...)
	}
	return len(p), nil
}

func (c *capWriter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}
