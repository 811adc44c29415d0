package engine

import "github.com/kvmtest/kvmtest/matrices"

// The engine decides a suite's requirements by the matrix language's one
// rule (matrices.KernelMeets, matrices.ConfigMeets; Suite.Unmet explains
// with the same): these only adapt it to what a cell has at hand.

// kernelSatisfies reports whether a kernel version meets a constraint
// (a release candidate sits between releases: 6.13-rc1 meets ">= 6.12").
func kernelSatisfies(kernelVersion, constraint string) (bool, error) {
	return matrices.KernelMeets(kernelVersion, constraint)
}

// configHas reports whether a .config sets opt: "CONFIG_X" means =y,
// "CONFIG_X=VALUE" that exact value.
func configHas(config []byte, opt string) bool {
	return matrices.ConfigMeets(matrices.ParseKernelConfig(config), opt)
}
