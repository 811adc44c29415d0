// Command shards measures how `--shard I/N` divides a matrix (a planning
// computation: nothing is built or booted), for the shipped default
// matrix and for a bigger one it writes (3 kernels × 4 patch series × 2
// configs), N = 2, 3, 4, and prints two ratios per case:
//
//	cold/unsharded  cold builds over all shards / cold builds of the unsharded run  [1.0 where the slots allow]
//	max/ideal       the dearest shard's estimated cost / (unsharded cost / N)      [<= 1.25]
//
// Costs are engine.DefaultCost's. Run from the repository's root:
//
//	go run ./bench/shards
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/matrices"
)

func main() {
	root, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "kvmtest-bench-shards.")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	big, tarball := filepath.Join(dir, "big.yaml"), filepath.Join(dir, "linux-6.6.tar.xz")
	if err := os.WriteFile(tarball, nil, 0o644); err != nil {
		fail(err)
	}
	if err := os.WriteFile(big, []byte(bigMatrix(root, tarball)), 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("cost model: %s\n", engine.DefaultCost)
	for _, file := range []string{filepath.Join(root, "matrices", "default.yaml"), big} {
		// The sources are not opened: the plan needs only the matrix.
		m, err := matrices.LoadWith(file, matrices.LoadOptions{CheckSource: &matrices.SourceChecker{}, Host: &matrices.Host{}})
		if err != nil {
			fail(err)
		}
		cells := m.Cells()
		whole := engine.DefaultCost.Shards(cells, 1)[0]
		fmt.Printf("== %s: %d cells, %d build slot(s) with a build, unsharded %d cold build(s), %.0f s\n",
			m.Name, len(cells), whole.ColdBuilds, whole.ColdBuilds, whole.Cost)
		for n := 2; n <= 4; n++ {
			cold, top, biggest := 0, 0.0, 0.0
			var costs []string
			for k, s := range engine.DefaultCost.Shards(cells, n) {
				cold += s.ColdBuilds
				top = max(top, s.Cost)
				costs = append(costs, fmt.Sprintf("%d/%d %.0fs", k+1, n, s.Cost))
			}
			for _, s := range engine.DefaultCost.Shards(cells, len(cells)) {
				biggest = max(biggest, s.Cost) // the dearest part no split can shorten
			}
			ideal := whole.Cost / float64(n)
			fmt.Printf("N=%d  ratio cold/unsharded %.3f (%d / %d)  ratio max/ideal %.3f (%.0f s / %.0f s; floor %.3f)  [%s]\n",
				n, float64(cold)/float64(whole.ColdBuilds), cold, whole.ColdBuilds, top/ideal, top, ideal,
				max(1, biggest/ideal), join(costs))
		}
	}
}

// bigMatrix is 3 kernels × 4 patch series × 2 configs: Debian's 6.12 and
// 6.1 tarballs and a 6.6 one (an empty file: sources are not opened; the
// model's figure for a version it has not measured), base and three series, the default
// minimal config and the older smaller one. The last two series apply
// from 6.12 only (skipped on 6.1 and 6.6).
func bigMatrix(root, tarball string) string {
	cfg := filepath.Join(root, "matrices", "configs")
	return fmt.Sprintf(`name: big
kernels:
  - {name: "6.12", version: "6.12", source: {tarball: /usr/src/linux-source-6.12.tar.xz}}
  - {name: "6.1", version: "6.1", source: {tarball: /usr/src/linux-source-6.1.tar.xz}}
  - {name: "6.6", version: "6.6", source: {tarball: %[4]s}}
patchsets:
  - {name: base}
  - {name: s1, series: %[1]s/patches/vmsplice-v1}
  - {name: s2, series: %[1]s/patches/vmsplice-v2, applies-to: ">= 6.12"}
  - {name: s3, series: %[1]s/patches/vmsplice-v1, applies-to: ">= 6.12"}
configs:
  - {name: minimal, base: tinyconfig, fragments: [%[2]s/qemu-minimal.config, %[2]s/rootfs.config]}
  - {name: small, base: tinyconfig, fragments: [%[2]s/qemu-minimal.config]}
suites:
  - {name: vmsplice, go-test: %[3]s/guest/tests/vmsplice, timeout: 1m}
baseline: {patchset: base}
`, filepath.Join(root, "matrices"), cfg, root, tarball)
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
