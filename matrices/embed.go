package matrices

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FS holds the shipped matrices (*.yaml) and the files they name
// (configs/..., patches/...), so that `kvmtest run NAME` works with no
// checkout. It is kvmtest's one embed of them: the root package kvmtest
// materializes them from here, with WriteBuiltin.
//
//go:embed *.yaml configs patches
var FS embed.FS

// Builtin returns the names of the embedded matrices (file names without
// .yaml), sorted.
func Builtin() []string {
	ents, _ := fs.ReadDir(FS, ".")
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(out)
	return out
}

// aliases are other names of shipped matrices: `kvmtest run vmsplice`
// runs the default matrix (it is the vmsplice series' matrix; see
// docs/matrix.md).
var aliases = map[string]string{"vmsplice": "default"}

// Canonical returns the shipped matrix that name stands for: an alias's
// target, or name itself.
func Canonical(name string) string {
	if a, ok := aliases[name]; ok {
		return a
	}
	return name
}

// Aliases returns the other names of the shipped matrices, sorted, each
// with the matrix it stands for.
func Aliases() [][2]string {
	var out [][2]string
	for a, m := range aliases {
		out = append(out, [2]string{a, m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// IsBuiltin reports whether name is an embedded matrix.
func IsBuiltin(name string) bool {
	for _, b := range Builtin() {
		if b == name {
			return true
		}
	}
	return false
}

// WriteBuiltin writes the embedded files (matrices, configs and patches)
// into dir, keeping their relative layout, so that they can be loaded with
// Load. A file already there with the same content is left alone.
// Paths in the shipped matrices are relative to their file, as in the
// repository's matrices/ directory: a suite such as
// go-test: ../guest/tests/vmsplice expects the guest sources at
// dir/../guest/tests/vmsplice.
func WriteBuiltin(dir string) error {
	return fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(dst); err == nil && string(old) == string(data) {
			return nil
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

// LoadBuiltin writes the embedded files into dir (see WriteBuiltin) and
// loads the embedded matrix called name from there.
func LoadBuiltin(name, dir string) (*Matrix, error) {
	if !IsBuiltin(name) {
		return nil, fmt.Errorf("no embedded matrix %q (have: %s)", name, strings.Join(Builtin(), ", "))
	}
	if err := WriteBuiltin(dir); err != nil {
		return nil, err
	}
	return Load(filepath.Join(dir, name+".yaml"))
}
