package tail

import (
	"bytes"
	"io"
	"math/rand"
	"strings"
	"sync"
	"testing"
)

var _ io.Writer = (*Buffer)(nil)

func TestBuffer(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"nothing written", 8, nil, ""},
		{"under max", 8, []string{"abc", "de"}, "abcde"},
		{"exactly max", 5, []string{"abc", "de"}, "abcde"},
		{"one write over max", 4, []string{"abcdefgh"}, "efgh"},
		{"many small writes", 3, []string{"a", "b", "c", "d", "e", "f", "g"}, "efg"},
		{"a long write after short ones", 4, []string{"ab", "cd", "0123456789"}, "6789"},
		{"short write after a long one", 4, []string{"0123456789", "x"}, "789x"},
		{"empty writes", 4, []string{"", "ab", "", "cdef", ""}, "cdef"},
		{"max 0 keeps nothing", 0, []string{"abc"}, ""},
		{"negative max keeps nothing", -1, []string{"abc"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.max)
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := string(b.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBufferMatchesNaive compares random write sequences with keeping
// everything and cutting the end.
func TestBufferMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, max := range []int{1, 7, 64, 1000} {
		b := New(max)
		var all []byte
		for i := 0; i < 500; i++ {
			p := make([]byte, r.Intn(3*max))
			r.Read(p)
			b.Write(p)
			all = append(all, p...)
			want := all
			if len(want) > max {
				want = want[len(want)-max:]
			}
			if got := b.Bytes(); !bytes.Equal(got, want) {
				t.Fatalf("max %d, after write %d: tail of %d bytes differs from the last %d written", max, i, len(got), len(want))
			}
			if len(b.buf) > 2*max {
				t.Fatalf("max %d: buffer holds %d bytes, over 2*max", max, len(b.buf))
			}
		}
	}
}

// TestBufferBytesIsACopy checks that a caller cannot change the tail.
func TestBufferBytesIsACopy(t *testing.T) {
	b := New(4)
	b.Write([]byte("abcd"))
	got := b.Bytes()
	got[0] = 'X'
	if b.String() != "abcd" {
		t.Errorf("tail changed to %q through Bytes()", b.String())
	}
}

// TestBufferConcurrent writes from several goroutines while reading: each
// write is kept whole (lines do not interleave inside a write).
func TestBufferConcurrent(t *testing.T) {
	b := New(100)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(c byte) {
			defer wg.Done()
			line := []byte(strings.Repeat(string(c), 9) + "\n")
			for i := 0; i < 1000; i++ {
				b.Write(line)
				_ = b.String()
			}
		}(byte('a' + g))
	}
	wg.Wait()
	got := b.String()
	if len(got) != 100 {
		t.Fatalf("tail of %d bytes, want 100", len(got))
	}
	// 100 bytes are the last ten whole lines of 10 bytes.
	for i := 0; i < 100; i += 10 {
		l := got[i : i+10]
		if l != strings.Repeat(l[:1], 9)+"\n" {
			t.Fatalf("line %q at %d was torn by a concurrent write", l, i)
		}
	}
}
