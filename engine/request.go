package engine

import (
	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/matrices"
)

// SourceOf turns a matrix kernel source into the builder's.
func SourceOf(s matrices.Source) builder.Source {
	b := builder.Source{Tarball: s.Tarball, Path: s.Path}
	if s.Git != nil {
		b.GitRepo, b.GitRef = s.Git.Repo, s.Git.Ref
	}
	if p := s.Prebuilt; p != nil {
		b.Image, b.Modules, b.Config, b.Deb, b.Package = p.Image, p.Modules, p.Config, p.Deb, p.Package
	}
	return b
}

// BuildRequest is the kernel build a cell needs (without a log writer).
func BuildRequest(c matrices.Cell) (builder.Request, error) {
	req := builder.Request{
		Kernel: c.Kernel.Name,
		Source: SourceOf(c.Kernel.Source),
		Config: builder.ConfigSpec{Base: c.Config.Base, Fragments: c.Config.FragmentsFor(c.Arch), Options: c.Config.Options},
		Arch:   c.Arch,
	}
	if s := c.Patchset.Series; s != "" {
		patches, err := builder.SeriesFiles(s)
		if err != nil {
			return req, &builder.BuildError{Phase: builder.PhasePatch, Err: err}
		}
		req.Patches = patches
	}
	return req, nil
}
