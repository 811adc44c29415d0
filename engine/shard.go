package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kvmtest/kvmtest/matrices"
)

// CostModel estimates, in seconds of a runner's wall time, what the cells
// of a shard cost, so that `--shard I/N` can balance the shards. It is
// the one place where these figures live; they were measured on the
// project's 2-core machine (TCG, other work sharing it) and are recorded in
// README.md and bench/README.md. Only their ratios matter for the balance;
// the absolute values are what `kvmtest plan --shard` prints.
type CostModel struct {
	// Cold is the cold build of the first kernel built in a build slot,
	// by kernel version ("6.12", "6.1": major.minor of Kernel.Version).
	// Measured with the default minimal config (tinyconfig +
	// qemu-minimal.config + rootfs.config, make -j2, no ccache) under
	// load: ~560 s for 6.12, ~780 s for 6.1. (The older, smaller config,
	// qemu-minimal.config alone, took 160-290 s: the model does not
	// weigh configs, whose size is not known before kconfig runs.)
	Cold map[string]float64
	// ColdOther is the cold build of a kernel whose version is not in
	// Cold (or not known at plan time): the dearest measured figure.
	ColdOther float64
	// Incremental is a patched variant built after another variant in
	// the same slot: 25-64 s measured (the vmsplice series); the upper
	// figure.
	Incremental float64
	// Cell is one cell's boot and its suites: 35-40 s with the default
	// suites under TCG; the upper figure.
	Cell float64
	// Prebuilt is what a prebuilt kernel's slot costs before its first
	// boot (unpacking an image or a .deb): a few seconds.
	Prebuilt float64
}

// DefaultCost is the cost model `--shard` uses.
var DefaultCost = CostModel{
	Cold:        map[string]float64{"6.12": 560, "6.1": 780},
	ColdOther:   780,
	Incremental: 64,
	Cell:        40,
	Prebuilt:    5,
}

// String says the model's figures in one line.
func (m CostModel) String() string {
	var vs []string
	for v := range m.Cold {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	var b strings.Builder
	b.WriteString("cold build")
	for _, v := range vs {
		fmt.Fprintf(&b, " %.0f s for %s,", m.Cold[v], v)
	}
	fmt.Fprintf(&b, " %.0f s for others; patched variant %.0f s; cell %.0f s", m.ColdOther, m.Incremental, m.Cell)
	return b.String()
}

// cold is the cold build of a slot holding cell c's kernel and config.
func (m CostModel) cold(c matrices.Cell) float64 {
	if c.Kernel.Source.Prebuilt != nil {
		return m.Prebuilt
	}
	v := c.Kernel.Version
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		v = parts[0] + "." + parts[1]
	}
	if s, ok := m.Cold[v]; ok {
		return s
	}
	return m.ColdOther
}

// incremental is a further build in the slot.
func (m CostModel) incremental(c matrices.Cell) float64 {
	if c.Kernel.Source.Prebuilt != nil {
		return 0
	}
	return m.Incremental
}

// SlotKey names the build slot a cell's kernel is built in, from the
// matrix alone: the kernel's source (tarball, tree, git repository and
// ref, or prebuilt kernel), the config's base, fragments and options, and
// the architecture (cells of two architectures never share one). Cells that differ only
// by patchset share a slot: the builder builds them one after another in
// one tree (builder/slot.go), the first cold and the others
// incrementally.
func SlotKey(c matrices.Cell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "arch=%s\x00", cellArch(c))
	s := c.Kernel.Source
	switch {
	case s.Tarball != "":
		fmt.Fprintf(&b, "tarball=%s", s.Tarball)
	case s.Path != "":
		fmt.Fprintf(&b, "path=%s", s.Path)
	case s.Git != nil:
		fmt.Fprintf(&b, "git=%s@%s", s.Git.Repo, s.Git.Ref)
	case s.Prebuilt != nil:
		p := s.Prebuilt
		fmt.Fprintf(&b, "prebuilt=%s|%s|%s|%s|%s", p.Image, p.Modules, p.Config, p.Deb, p.Package)
	}
	cf := c.Config
	fmt.Fprintf(&b, "\x00base=%s\x00fragments=%s\x00options=%s",
		cf.Base, strings.Join(cf.FragmentsFor(c.Arch), "\x01"), strings.Join(cf.Options, "\x01"))
	return b.String()
}

// A Shard is one share of a list of cells (`--shard I/N`).
type Shard struct {
	Cells      []int   // indexes into the list, ascending
	Cost       float64 // estimated seconds (CostModel)
	ColdBuilds int     // slots (or parts of slots) it builds cold
	Builds     int     // kernels it builds (cells not skipped)
}

// part is some cells of one slot that go to one shard together.
type part struct {
	cells  []int // ascending
	builds int   // of them, not skipped
	cost   float64
}

func (m CostModel) partOf(cells []matrices.Cell, idx []int) part {
	p := part{cells: idx}
	var first *matrices.Cell
	for _, i := range idx {
		if cells[i].Skip != "" {
			continue // a skipped cell costs nothing
		}
		if first == nil {
			first = &cells[i]
			p.cost += m.cold(*first)
		} else {
			p.cost += m.incremental(*first)
		}
		p.cost += m.Cell
		p.builds++
	}
	return p
}

// split divides a part's cells in two, each with half the builds (the
// first half keeps the slot's first cells: its baseline, in matrix
// order). Each half pays a cold build.
func (m CostModel) split(cells []matrices.Cell, p part) (part, part) {
	half := (p.builds + 1) / 2
	var a, b []int
	n := 0
	for _, i := range p.cells {
		if n >= half {
			b = append(b, i)
			continue
		}
		a = append(a, i)
		if cells[i].Skip == "" {
			n++
		}
	}
	return m.partOf(cells, a), m.partOf(cells, b)
}

// Shards divides cells into n shards by build slot and balances them by
// estimated cost. Every cell is in exactly one shard; the result depends
// only on the cells and their order.
//
// The cells of one build slot (SlotKey) stay on one shard, so that a
// patched variant is built incrementally after its baseline and the
// shard's report compares the two before any merge; a slot dearer than
// the ideal share (total / n) keeps its own shard. Slots are placed
// dearest first, each on the cheapest shard so far (ties: the first), then
// moves and swaps between the dearest shard and the others that lower it
// are made. Skipped cells weigh nothing and go with their slot.
//
// Only when n exceeds the number of slots is a slot split: the dearest
// slot (or part) with two builds or more is halved, each half paying a
// cold build, up to n parts, and the splits are kept only as far as they
// lower the dearest shard's cost. Shards may then stay empty (n larger
// than what splitting can use: a runner with nothing to do).
func (m CostModel) Shards(cells []matrices.Cell, n int) []Shard {
	if n < 1 {
		n = 1
	}
	var parts []part
	bySlot := map[string]int{}
	var slotCells [][]int
	for i, c := range cells {
		k := SlotKey(c)
		j, ok := bySlot[k]
		if !ok {
			j = len(slotCells)
			bySlot[k] = j
			slotCells = append(slotCells, nil)
		}
		slotCells[j] = append(slotCells[j], i)
	}
	for _, idx := range slotCells {
		parts = append(parts, m.partOf(cells, idx))
	}
	assign, span := place(parts, n)
	// Split the dearest splittable part, again and again while there are
	// fewer parts than shards, and keep the first state whose dearest
	// shard is cheapest (a split may pay only with the next one: two
	// equal slots on three shards gain nothing from one split).
	cur := parts
	for len(cur) < n {
		best := -1
		for j, p := range cur {
			if p.builds >= 2 && (best < 0 || p.cost > cur[best].cost) {
				best = j
			}
		}
		if best < 0 {
			break
		}
		a, b := m.split(cells, cur[best])
		cur = append(append(append([]part{}, cur[:best]...), a, b), cur[best+1:]...)
		if ta, tspan := place(cur, n); tspan < span-1e-9 {
			parts, assign, span = cur, ta, tspan
		}
	}
	out := make([]Shard, n)
	for j, p := range parts {
		s := &out[assign[j]]
		s.Cells = append(s.Cells, p.cells...)
		s.Cost += p.cost
		s.Builds += p.builds
		if p.builds > 0 {
			s.ColdBuilds++
		}
	}
	for i := range out {
		sort.Ints(out[i].Cells)
	}
	return out
}

// place assigns parts to n shards: dearest first on the cheapest shard,
// then improving moves and swaps off the dearest shard. It returns each
// part's shard and the dearest shard's cost.
func place(parts []part, n int) ([]int, float64) {
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return parts[order[a]].cost > parts[order[b]].cost })
	assign := make([]int, len(parts))
	load := make([]float64, n)
	for _, j := range order {
		s := 0
		for k := 1; k < n; k++ {
			if load[k] < load[s] {
				s = k
			}
		}
		assign[j] = s
		load[s] += parts[j].cost
	}
	const eps = 1e-9
	for round := 0; round < 4*len(parts)+4; round++ {
		top := 0
		for k := 1; k < n; k++ {
			if load[k] > load[top] {
				top = k
			}
		}
		improved := false
	search:
		for _, j := range order {
			if assign[j] != top || parts[j].cost == 0 {
				continue
			}
			for k := 0; k < n && !improved; k++ {
				if k == top {
					continue
				}
				// Move j to k.
				if load[k]+parts[j].cost < load[top]-eps {
					assign[j] = k
					load[top] -= parts[j].cost
					load[k] += parts[j].cost
					improved = true
					break search
				}
				// Swap j with a cheaper part on k.
				for _, q := range order {
					if assign[q] != k || parts[q].cost >= parts[j].cost {
						continue
					}
					d := parts[j].cost - parts[q].cost
					if load[k]+d < load[top]-eps {
						assign[j], assign[q] = k, top
						load[top] -= d
						load[k] += d
						improved = true
						break search
					}
				}
			}
		}
		if !improved {
			break
		}
	}
	span := 0.0
	for _, l := range load {
		if l > span {
			span = l
		}
	}
	return assign, span
}
