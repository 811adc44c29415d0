package results

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mkRun(digest, shard string, ids ...string) *Run {
	r := &Run{Schema: SchemaVersion, Matrix: Matrix{Name: "m", Digest: digest}, Shard: shard}
	for _, id := range ids {
		r.Cells = append(r.Cells, &Cell{ID: id, Status: StatusPassed})
	}
	return r
}

// shares splits a run as `kvmtest run --shard I/N` does: by build slot,
// here blocks of consecutive cells (the last share first, so that no
// position rule can guess the order), each share listing the whole.
func shares(whole *Run, n int) []*Run {
	var ids []string
	for _, c := range whole.Cells {
		ids = append(ids, c.ID)
	}
	var out []*Run
	for i := 1; i <= n; i++ {
		s := *whole
		s.Shard = fmt.Sprintf("%d/%d", i, n)
		s.WholeCells = ids
		s.Cells = nil
		for k, c := range whole.Cells {
			if (len(whole.Cells)-1-k)*n/len(whole.Cells) == i-1 {
				s.Cells = append(s.Cells, c)
			}
		}
		out = append(out, &s)
	}
	return out
}

// interleavedShares splits a run as `--shard` did before shares listed
// the whole: share I of N held positions I-1, I-1+N, ...
func interleavedShares(whole *Run, n int) []*Run {
	var out []*Run
	for i := 1; i <= n; i++ {
		s := *whole
		s.Shard = fmt.Sprintf("%d/%d", i, n)
		s.Cells = nil
		for k, c := range whole.Cells {
			if k%n == i-1 {
				s.Cells = append(s.Cells, c)
			}
		}
		out = append(out, &s)
	}
	return out
}

func TestMergeOfInterleavedSharesIsTheWhole(t *testing.T) {
	whole := mkRun("d", "", "a", "b", "c", "d", "e", "f", "g")
	for n := 1; n <= 4; n++ {
		parts := interleavedShares(whole, n)
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		got, err := Merge(parts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(got), ids(whole)) {
			t.Errorf("n=%d: merged %v, want %v", n, ids(got), ids(whole))
		}
	}
}

func TestMergeOfSharesIsTheWhole(t *testing.T) {
	whole := mkRun("d", "", "a", "b", "c", "d", "e", "f", "g")
	whole.Started = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	whole.Finished = whole.Started.Add(time.Hour)
	for n := 1; n <= 4; n++ {
		parts := shares(whole, n)
		// Shares finish at different times; given in any order.
		if n > 1 {
			parts[0].Finished = whole.Started.Add(time.Minute)
		}
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		got, err := Merge(parts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, whole) {
			t.Errorf("n=%d: merged %+v, want %+v", n, ids(got), ids(whole))
		}
		if m := MissingShards(parts); m != nil {
			t.Errorf("n=%d: missing %v", n, m)
		}
	}
}

func ids(r *Run) string {
	var s []string
	for _, c := range r.Cells {
		s = append(s, c.ID)
	}
	return strings.Join(s, ",")
}

func TestMergeRefusesDifferentMatrices(t *testing.T) {
	_, err := Merge([]*Run{mkRun("d1", "1/2", "a"), mkRun("d2", "2/2", "b")})
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("merge of two matrices: %v", err)
	}
}

func TestMergeDuplicates(t *testing.T) {
	if _, err := Merge([]*Run{mkRun("d", "1/2", "a"), mkRun("d", "1/2", "a")}); err == nil {
		t.Error("the same share twice was merged")
	}
	a := mkRun("d", "", "a", "b")
	a.Cells[1].Status = StatusInterrupted
	b := mkRun("d", "", "b")
	got, err := Merge([]*Run{a, b})
	if err != nil || len(got.Cells) != 2 || got.Cells[1] != b.Cells[0] {
		t.Errorf("an interrupted cell finished elsewhere: %v %s", err, ids(got))
	}
	if got.Cells[0].ID != "a" {
		t.Errorf("order %s", ids(got))
	}
}

func TestMissingShards(t *testing.T) {
	if got := MissingShards([]*Run{mkRun("d", "1/3", "a"), mkRun("d", "3/3", "c")}); !reflect.DeepEqual(got, []string{"2/3"}) {
		t.Errorf("MissingShards = %v", got)
	}
	if got := MissingShards([]*Run{mkRun("d", "", "a")}); got != nil {
		t.Errorf("unsharded: %v", got)
	}
}

func TestParseShard(t *testing.T) {
	for _, bad := range []string{"0/2", "3/2", "1", "a/b", "1/0", ""} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}
