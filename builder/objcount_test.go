package builder

import (
	"fmt"
	"testing"
)

// TestObjectCounter: the counter counts make's "  CC ", "  LD " and
// "  AR " lines, whatever the writes' boundaries (a tag split across two
// writes, several lines in one), and nothing else ("  CHK", a compiler's
// message with CC in it); it reports every Every objects.
func TestObjectCounter(t *testing.T) {
	var reports []int
	c := &ObjectCounter{Every: 2, Report: func(n int) { reports = append(reports, n) }}
	writes := []string{
		"  CC      kernel/fork.o\n  C", "C      mm/slub.o\n",
		"  CHK     include/generated/compile.h\n",
		"kernel/fork.c:12: warning:   CC here\n",
		"  AR      lib/lib.a\n  LD      vmlinux.o\n  LD ",
		"     vmlinux\n",
	}
	for _, w := range writes {
		if n, err := fmt.Fprint(c, w); err != nil || n != len(w) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if c.Count() != 5 {
		t.Errorf("counted %d objects, want 5", c.Count())
	}
	if fmt.Sprint(reports) != "[2 4]" {
		t.Errorf("reports %v, want [2 4]", reports)
	}
}
