package engine

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/kvmtest/kvmtest/matrices"
)

// kernelSatisfies reports whether a kernel version meets a constraint.
func kernelSatisfies(kernelVersion, constraint string) (bool, error) {
	v, err := matrices.ParseKernelVersion(kernelVersion)
	if err != nil {
		return false, err
	}
	c, err := version.NewConstraint(constraint)
	if err != nil {
		return false, err
	}
	return c.Check(v), nil
}

// configHas reports whether a .config sets opt: "CONFIG_X" means =y,
// "CONFIG_X=VALUE" that exact value.
func configHas(config []byte, opt string) bool {
	sym, val, hasVal := strings.Cut(opt, "=")
	if !hasVal {
		val = "y"
	}
	sc := bufio.NewScanner(bytes.NewReader(config))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && k == sym {
			return v == val
		}
	}
	return false
}
