package main

import (
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
)

func TestInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("jobs", 1, "")
	fs.Bool("quiet", false, "")
	tests := []struct{ in, want string }{
		{"vmsplice --jobs 2", "--jobs 2 -- vmsplice"},
		{"--quiet vmsplice --jobs=3", "--quiet --jobs=3 -- vmsplice"},
		{"--jobs 2", "--jobs 2"},
		{"m.yaml -- -weird-arg", "-- m.yaml -weird-arg"},
	}
	for _, tt := range tests {
		got := strings.Join(interspersed(fs, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("interspersed(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, bad := range []string{"0/2", "3/2", "1", "a/b", "1/0", ""} {
		if _, _, err := parseShard(bad); err == nil {
			t.Errorf("parseShard(%q) accepted", bad)
		}
	}
	if i, n, err := parseShard("2/4"); err != nil || i != 2 || n != 4 {
		t.Errorf("parseShard(2/4) = %d, %d, %v", i, n, err)
	}
}

// TestShardsCoverEveryCellOnce: eleven cells of eleven build slots (one
// config each) of equal cost: every cell in one shard, sizes even.
// engine's shard tests check slots, costs and determinism.
func TestShardsCoverEveryCellOnce(t *testing.T) {
	var cells []matrices.Cell
	k := &matrices.Kernel{Name: "k", Version: "6.12", Source: matrices.Source{Tarball: "/k.tar.xz"}}
	p := &matrices.Patchset{Name: "base"}
	for i := 0; i < 11; i++ {
		cf := &matrices.Config{Name: "c", Base: "tinyconfig", Options: []string{fmt.Sprintf("CONFIG_X%d=y", i)}}
		cells = append(cells, matrices.Cell{ID: fmt.Sprintf("k-p%d-c", i), Kernel: k, Patchset: p, Config: cf})
	}
	for n := 1; n <= 5; n++ {
		seen := map[string]int{}
		sizes := []int{}
		for i := 1; i <= n; i++ {
			got, err := selectCells(cells, "", fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(got))
			for _, c := range got {
				seen[c.ID]++
			}
		}
		for _, c := range cells {
			if seen[c.ID] != 1 {
				t.Errorf("n=%d: cell %s in %d shards", n, c.ID, seen[c.ID])
			}
		}
		for _, s := range sizes {
			if s < len(cells)/n || s > len(cells)/n+1 {
				t.Errorf("n=%d: uneven shard sizes %v", n, sizes)
			}
		}
	}
	if _, err := selectCells(cells, "nomatch*", ""); err == nil || !strings.Contains(err.Error(), "matches no cell") {
		t.Errorf("a glob matching nothing: %v", err)
	}
	got, _ := selectCells(cells, "k-p1*", "")
	if len(got) != 2 {
		t.Errorf("glob k-p1* selected %d cells, want 2 (p1, p10)", len(got))
	}
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{{"65536", 65536}, {"64K", 64 << 10}, {"64KiB", 64 << 10}, {"1m", 1 << 20}, {"32MB", 32 << 20}, {"2G", 2 << 30},
		{"0", 0}, {"-1", 0}, {"", 0}, {"M", 0}, {"1.5M", 0}, {"9999999999999G", 0}} {
		got, err := parseSize(tt.in)
		if got != tt.want || (err != nil) != (tt.want == 0) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// TestUsageCommentListsEveryCommand checks the command's doc comment: it
// lists every registered command, with its short description, and no
// other.
func TestUsageCommentListsEveryCommand(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(f.Doc.Text(), "The commands are:\n")
	if !ok {
		t.Fatal("main.go's doc comment has no \"The commands are:\" list")
	}
	documented := map[string]string{}
	for _, line := range strings.Split(strings.TrimLeft(list, "\n"), "\n") {
		if !strings.HasPrefix(line, "\t") {
			break
		}
		name, short, _ := strings.Cut(strings.TrimSpace(line), " ")
		documented[name] = strings.TrimSpace(short)
	}
	for name, c := range commands {
		if c.Hidden {
			if _, ok := documented[name]; ok {
				t.Errorf("hidden command %s is in main.go's doc comment", name)
			}
			continue
		}
		if got, ok := documented[name]; !ok {
			t.Errorf("command %s is not in main.go's doc comment", name)
		} else if got != c.Short {
			t.Errorf("main.go's doc comment says %s is %q; its Short is %q", name, got, c.Short)
		}
	}
	for name := range documented {
		if _, ok := commands[name]; !ok {
			t.Errorf("main.go's doc comment lists %q, which is no command", name)
		}
	}
}
