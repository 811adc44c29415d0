package results

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Merge joins the runs of the shares of one matrix (`kvmtest run --shard
// I/N`, one per runner) into one Run, as if the matrix had run in one
// place. It refuses runs of different matrices (their digests differ) and
// a cell that two runs both finished.
//
// The merged run has no Shard, starts when the first share started and
// finishes when the last one finished; its tool and host are the first
// run's. Cells keep the matrix order when every run lists the whole run's
// cells (WholeCells, the same in every share), or, for shares written
// before that field, when every run names its share (those shares
// interleaved: share I of N held the cells at positions I-1, I-1+N, ...);
// otherwise they are concatenated in argument order. A cell that one run recorded as
// interrupted and another finished is taken from the one that finished.
func Merge(runs []*Run) (*Run, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("merge: no runs")
	}
	first := runs[0]
	for i, r := range runs[1:] {
		if r.Matrix.Digest != first.Matrix.Digest {
			return nil, fmt.Errorf("merge: run %d is of matrix %s (digest %s), run 1 of matrix %s (digest %s): not shares of one run",
				i+2, r.Matrix.Name, short(r.Matrix.Digest), first.Matrix.Name, short(first.Matrix.Digest))
		}
	}
	out := &Run{
		Schema: SchemaVersion,
		Tool:   first.Tool,
		Matrix: first.Matrix,
		Host:   first.Host,
	}
	for _, r := range runs {
		if !r.Started.IsZero() && (out.Started.IsZero() || r.Started.Before(out.Started)) {
			out.Started = r.Started
		}
		if r.Finished.After(out.Finished) {
			out.Finished = r.Finished
		}
	}

	type placed struct {
		cell *Cell
		key  int // position in the whole matrix, or in argument order
		run  int
	}
	interleave := shardsInterleave(runs)
	whole := wholeOrder(runs)
	byID := map[string]*placed{}
	var order []*placed
	seq := 0
	for ri, r := range runs {
		i, n, _ := ParseShard(r.Shard)
		for j, c := range r.Cells {
			key := seq
			if pos, ok := whole[c.ID]; ok {
				key = pos
			} else if whole == nil && interleave {
				key = j*n + i - 1
			} else if whole != nil {
				key = len(whole) + seq // not in the whole's list: after it
			}
			seq++
			p := &placed{cell: c, key: key, run: ri}
			prev, dup := byID[c.ID]
			switch {
			case !dup:
				byID[c.ID] = p
				order = append(order, p)
			case c.Status == StatusInterrupted:
				// keep the one already there
			case prev.cell.Status == StatusInterrupted:
				*prev = *p
			default:
				return nil, fmt.Errorf("merge: cell %s was run by both run %d and run %d", c.ID, prev.run+1, ri+1)
			}
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return order[a].key < order[b].key })
	for _, p := range order {
		out.Cells = append(out.Cells, p.cell)
	}
	return out, nil
}

// wholeOrder maps each cell id to its position in the whole run when
// every run lists the same WholeCells, else returns nil.
func wholeOrder(runs []*Run) map[string]int {
	first := runs[0].WholeCells
	if len(first) == 0 {
		return nil
	}
	for _, r := range runs[1:] {
		if strings.Join(r.WholeCells, "\x00") != strings.Join(first, "\x00") {
			return nil
		}
	}
	pos := make(map[string]int, len(first))
	for k, id := range first {
		pos[id] = k
	}
	return pos
}

// shardsInterleave reports whether every run names a distinct share of the
// same N, so that cell positions in the whole matrix can be recovered.
func shardsInterleave(runs []*Run) bool {
	seen := map[int]bool{}
	n0 := 0
	for _, r := range runs {
		i, n, err := ParseShard(r.Shard)
		if err != nil || seen[i] || (n0 != 0 && n != n0) {
			return false
		}
		seen[i], n0 = true, n
	}
	return true
}

// MissingShards names the shares of N that none of the runs holds, when
// every run is a share ("2/3"), so that a merge of an incomplete set can
// say what it lacks.
func MissingShards(runs []*Run) []string {
	if !shardsInterleave(runs) {
		return nil
	}
	have := map[int]bool{}
	n := 0
	for _, r := range runs {
		var i int
		i, n, _ = ParseShard(r.Shard)
		have[i] = true
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if !have[i] {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	return missing
}

// ParseShard parses a share "I/N" with 1 <= I <= N.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("shard %q: want I/N with 1 <= I <= N", s)
	}
	return i, n, nil
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}
