package main

import (
	"fmt"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
)

func TestPickCell(t *testing.T) {
	m := &matrices.Matrix{
		Kernels:   []*matrices.Kernel{{Name: "6.12"}, {Name: "6.1"}},
		Patchsets: []*matrices.Patchset{{Name: "base"}},
		Configs:   []*matrices.Config{{Name: "minimal"}},
	}
	for _, tt := range []struct{ arg, want, err string }{
		{"6.1-base-minimal", "6.1-base-minimal", ""},
		{"6.12-*", "6.12-base-minimal", ""},
		{"6.1*", "", `--cell "6.1*" matches 2 cells (6.12-base-minimal, 6.1-base-minimal): name one`},
		{"next-*", "", `--cell "next-*" matches no cell (cells: 6.12-base-minimal, 6.1-base-minimal)`},
		{"[", "", `--cell "[": syntax error in pattern`},
	} {
		c, err := pickCell(m, tt.arg)
		if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) || c.ID != tt.want {
			t.Errorf("pickCell(%q) = %q, %v; want %q, %s", tt.arg, c.ID, err, tt.want, tt.err)
		}
	}
}
