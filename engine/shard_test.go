package engine

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
)

// loadDefault loads the shipped default matrix without checking its
// sources (the tarballs need not be installed).
func loadDefault(t *testing.T) *matrices.Matrix {
	t.Helper()
	m, err := matrices.LoadWith("../matrices/default.yaml", matrices.LoadOptions{CheckSource: &matrices.SourceChecker{}, Host: &matrices.Host{}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// synthCells is kernels × patchsets × configs, the patchsets after the
// first skipped on the last kernel (when there are several).
func synthCells(kernels, patchsets, configs int) []matrices.Cell {
	var out []matrices.Cell
	for k := 0; k < kernels; k++ {
		kn := &matrices.Kernel{Name: fmt.Sprintf("6.%d", 12-k), Version: fmt.Sprintf("6.%d", 12-k),
			Source: matrices.Source{Tarball: fmt.Sprintf("/usr/src/linux-source-6.%d.tar.xz", 12-k)}}
		for p := 0; p < patchsets; p++ {
			ps := &matrices.Patchset{Name: fmt.Sprintf("p%d", p)}
			for c := 0; c < configs; c++ {
				cf := &matrices.Config{Name: fmt.Sprintf("c%d", c), Base: "tinyconfig", Fragments: []string{fmt.Sprintf("/f%d.config", c)}}
				cell := matrices.Cell{ID: matrices.CellID(kn.Name, ps.Name, cf.Name), Kernel: kn, Patchset: ps, Config: cf}
				if kernels > 1 && k == kernels-1 && p > 0 {
					cell.Skip = "applies-to"
				}
				out = append(out, cell)
			}
		}
	}
	return out
}

func ids(cells []matrices.Cell, idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, cells[i].ID)
	}
	return out
}

func TestShardsCoverEveryCellOnce(t *testing.T) {
	cells := synthCells(3, 4, 2)
	for n := 1; n <= 9; n++ {
		seen := map[int]int{}
		total := 0.0
		for _, s := range DefaultCost.Shards(cells, n) {
			for _, i := range s.Cells {
				seen[i]++
			}
			total += s.Cost
		}
		for i, c := range cells {
			if seen[i] != 1 {
				t.Errorf("n=%d: cell %s in %d shards", n, c.ID, seen[i])
			}
		}
		if total <= 0 {
			t.Errorf("n=%d: total cost %v", n, total)
		}
	}
}

// TestDefaultMatrixShardsKeepSlots: of the default matrix, --shard 1/2
// and 2/2 each build one kernel cold, and every 6.12 cell is with its
// base (the patched variants are incremental, and compared before the
// merge).
func TestDefaultMatrixShardsKeepSlots(t *testing.T) {
	cells := loadDefault(t).Cells()
	shards := DefaultCost.Shards(cells, 2)
	where := map[string]int{}
	for k, s := range shards {
		if s.ColdBuilds != 1 {
			t.Errorf("shard %d/2 builds %d kernel(s) cold, want 1: %v", k+1, s.ColdBuilds, ids(cells, s.Cells))
		}
		for _, i := range s.Cells {
			where[cells[i].ID] = k
		}
	}
	for _, c := range cells {
		base := matrices.CellID(c.Kernel.Name, "base", c.Config.Name)
		if where[c.ID] != where[base] {
			t.Errorf("%s on shard %d, its base %s on shard %d", c.ID, where[c.ID]+1, base, where[base]+1)
		}
	}
	// The two slots: 6.12 (one cold, two incremental, three boots) and
	// 6.1 (one cold, one boot: its patched cells are skipped).
	m := DefaultCost
	want := []float64{m.Cold["6.12"] + 2*m.Incremental + 3*m.Cell, m.Cold["6.1"] + m.Cell}
	for _, s := range shards {
		k := 0
		if cells[s.Cells[0]].Kernel.Name == "6.1" {
			k = 1
		}
		if math.Abs(s.Cost-want[k]) > 1e-9 {
			t.Errorf("shard of %s costs %v, want %v", cells[s.Cells[0]].Kernel.Name, s.Cost, want[k])
		}
	}
}

func TestShardsDeterministic(t *testing.T) {
	cells := synthCells(3, 4, 2)
	for n := 1; n <= 6; n++ {
		a := DefaultCost.Shards(cells, n)
		for r := 0; r < 20; r++ {
			if b := DefaultCost.Shards(cells, n); !reflect.DeepEqual(a, b) {
				t.Fatalf("n=%d: %v then %v", n, a, b)
			}
		}
		// The same matrix loaded twice (fresh maps, fresh pointers).
		d1, d2 := loadDefault(t).Cells(), loadDefault(t).Cells()
		if x, y := DefaultCost.Shards(d1, n), DefaultCost.Shards(d2, n); !reflect.DeepEqual(x, y) {
			t.Fatalf("default matrix, n=%d: %v then %v", n, x, y)
		}
	}
}

// TestSkippedCellsWeighNothing: a slot of skipped cells costs 0 and its
// cells still go to a shard; skipped cells in a slot add nothing to it.
func TestSkippedCellsWeighNothing(t *testing.T) {
	cells := synthCells(2, 3, 1) // 6.11's p1 and p2 are skipped
	with := DefaultCost.Shards(cells, 1)[0].Cost
	var kept []matrices.Cell
	for _, c := range cells {
		if c.Skip == "" {
			kept = append(kept, c)
		}
	}
	if without := DefaultCost.Shards(kept, 1)[0].Cost; with != without {
		t.Errorf("cost with skipped cells %v, without %v", with, without)
	}
	// A slot where every cell is skipped.
	all := synthCells(1, 2, 1)
	for i := range all {
		all[i].Skip = "applies-to"
	}
	shards := DefaultCost.Shards(all, 2)
	n := 0
	for _, s := range shards {
		if s.Cost != 0 || s.ColdBuilds != 0 || s.Builds != 0 {
			t.Errorf("skipped cells cost %v (%d cold builds)", s.Cost, s.ColdBuilds)
		}
		n += len(s.Cells)
	}
	if n != len(all) {
		t.Errorf("%d of %d skipped cells placed", n, len(all))
	}
}

// TestShardsSplitOnlyWhenSlotsRunOut: with fewer shards than slots no
// slot is split; with more, the dearest slots are split (each part cold)
// when that shortens the dearest shard.
func TestShardsSplitOnlyWhenSlotsRunOut(t *testing.T) {
	// Two slots of four builds: three shards gain nothing from splitting
	// one (the other stays the dearest), four gain from splitting both.
	cells := synthCells(1, 4, 2)
	for n, wantCold := range map[int]int{1: 2, 2: 2, 3: 2, 4: 4} {
		cold := 0
		for _, s := range DefaultCost.Shards(cells, n) {
			cold += s.ColdBuilds
		}
		if cold != wantCold {
			t.Errorf("n=%d: %d cold builds, want %d", n, cold, wantCold)
		}
	}
	// One cell per slot: nothing to split, shards stay empty.
	one := synthCells(2, 1, 1)
	empty := 0
	for _, s := range DefaultCost.Shards(one, 4) {
		if len(s.Cells) == 0 {
			empty++
		}
	}
	if empty != 2 {
		t.Errorf("%d empty shards of 4 for 2 single-cell slots, want 2", empty)
	}
}

// TestShardsBalance: a slot dearer than the ideal share keeps its own
// shard, and the others balance within 1.25 of the ideal.
func TestShardsBalance(t *testing.T) {
	cells := synthCells(3, 4, 2)
	whole := DefaultCost.Shards(cells, 1)[0].Cost
	for n := 2; n <= 4; n++ {
		top := 0.0
		for _, s := range DefaultCost.Shards(cells, n) {
			top = math.Max(top, s.Cost)
		}
		if r := top / (whole / float64(n)); r > 1.25 {
			t.Errorf("n=%d: dearest shard %.0f s, %.3f of the ideal %.0f s", n, top, r, whole/float64(n))
		}
	}
}
