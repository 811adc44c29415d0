package builder

import "bytes"

// ObjectCounter is an io.Writer that counts the objects make's output
// reports ("  CC ", "  LD ", "  AR " lines, kbuild's quiet output) and
// tells Report the count, at most once per Every objects. It keeps only
// the end of a line not yet ended: cheap enough for every byte of a
// kernel build's log.
type ObjectCounter struct {
	Report func(n int) // may be nil
	Every  int         // report every Every objects (default 1)
	n      int
	sol    bool   // the next byte starts a line
	head   []byte // the start of the current line, up to 5 bytes
	seen   bool   // the start of the current line was judged
	inited bool
}

// Count is the objects counted so far.
func (c *ObjectCounter) Count() int { return c.n }

var objectTags = [][]byte{[]byte("  CC "), []byte("  LD "), []byte("  AR ")}

func (c *ObjectCounter) Write(b []byte) (int, error) {
	if !c.inited {
		c.sol, c.inited = true, true
	}
	total := len(b)
	for len(b) > 0 {
		if c.sol {
			c.head, c.seen, c.sol = c.head[:0], false, false
		}
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i]
		}
		if !c.seen {
			need := min(5-len(c.head), len(line))
			c.head = append(c.head, line[:need]...)
			if len(c.head) == 5 {
				c.seen = true
				for _, t := range objectTags {
					if bytes.Equal(c.head, t) {
						c.count()
						break
					}
				}
			}
		}
		if i < 0 {
			break
		}
		b = b[i+1:]
		c.sol = true
	}
	return total, nil
}

func (c *ObjectCounter) count() {
	c.n++
	every := max(c.Every, 1)
	if c.Report != nil && c.n%every == 0 {
		c.Report(c.n)
	}
}
