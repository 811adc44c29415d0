package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CheckSeries applies patches, in order, to a scratch copy of the source
// (hard links to the shared tree, with each touched file copied first) and
// discards it: it tells whether a series applies without building
// anything. A failure is a *PatchError.
func (b *Builder) CheckSeries(ctx context.Context, src Source, patches []string) error {
	p, err := b.Cache.prepareSource(ctx, src, b.logf)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(b.Cache.Path("tmp"), "check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	s := &slot{dir: tmp, src: filepath.Join(tmp, "src"), pristine: p.Tree}
	if err := b.run(ctx, tmp, io.Discard, "cp", "-al", p.Tree, s.src); err != nil {
		return fmt.Errorf("copying the source tree: %w", err)
	}
	for _, pf := range patches {
		files, err := patchFiles(pf)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := s.privatize(f); err != nil {
				return err
			}
		}
		if err := applyPatch(ctx, b, s.src, pf, p.Tree, io.Discard); err != nil {
			return err
		}
	}
	return nil
}
