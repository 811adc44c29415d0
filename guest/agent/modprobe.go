package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// Kernel modules
//
// The agent loads modules itself, as kmod's modprobe does, from the tree
// modules_install and depmod wrote (proto.ModulesDir/RELEASE): a name is
// looked up in modules.dep (by file name, '-' and '_' alike) or, failing
// that, as an alias in modules.alias (the names the kernel asks
// /sbin/modprobe for, such as fs-virtiofs); a name in modules.builtin is
// built in and needs nothing; dependencies are loaded first, deepest
// first, then the module, each with finit_module(2). A module already
// loaded (EEXIST) is no error. A compressed module (.ko.xz, .ko.zst,
// .ko.gz) is handed to the kernel to decompress
// (MODULE_INIT_COMPRESSED_FILE, CONFIG_MODULE_DECOMPRESS).
//
// The same binary is /sbin/modprobe in the initramfs (called by that
// name, see modprobeMain), so that suites and the kernel's own module
// requests find one.

// moduleIndex is what depmod wrote for one kernel release.
type moduleIndex struct {
	dir     string              // the release's directory
	deps    map[string][]string // module name -> its file, then its dependencies' files (relative to dir)
	alias   [][2]string         // (pattern, module name), in file order
	builtin map[string]bool
}

// moduleName is a module's name from its file name or as written: the
// base name without .ko and a compression suffix, '-' as '_'.
func moduleName(s string) string {
	s = path.Base(s)
	for _, suf := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, suf)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// loadModuleIndex reads modules.dep, modules.alias and modules.builtin of
// dir. Only modules.dep is required.
func loadModuleIndex(dir string) (*moduleIndex, error) {
	idx := &moduleIndex{dir: dir, deps: map[string][]string{}, builtin: map[string]bool{}}
	err := eachLine(filepath.Join(dir, "modules.dep"), func(line string) {
		file, deps, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		idx.deps[moduleName(file)] = append([]string{strings.TrimSpace(file)}, strings.Fields(deps)...)
	})
	if err != nil {
		return nil, fmt.Errorf("kernel modules: %w (depmod has not run for this kernel?)", err)
	}
	_ = eachLine(filepath.Join(dir, "modules.builtin"), func(line string) {
		idx.builtin[moduleName(line)] = true
	})
	_ = eachLine(filepath.Join(dir, "modules.alias"), func(line string) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "alias" {
			idx.alias = append(idx.alias, [2]string{f[1], moduleName(f[2])})
		}
	})
	return idx, nil
}

// eachLine calls fn with every non-empty line of file that is not a
// comment.
func eachLine(file string, fn func(string)) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			fn(l)
		}
	}
	return sc.Err()
}

// resolve returns the name of the module that provides name (itself, or
// the first whose alias matches), and whether it is built in.
func (idx *moduleIndex) resolve(name string) (mod string, builtin bool, err error) {
	n := moduleName(name)
	if idx.builtin[n] {
		return n, true, nil
	}
	if _, ok := idx.deps[n]; ok {
		return n, false, nil
	}
	for _, a := range idx.alias {
		if ok, _ := path.Match(a[0], name); ok {
			if idx.builtin[a[1]] {
				return a[1], true, nil
			}
			if _, ok := idx.deps[a[1]]; ok {
				return a[1], false, nil
			}
		}
	}
	return "", false, fmt.Errorf("module %s not found in %s (modules.dep, modules.alias, modules.builtin)", name, idx.dir)
}

// loadFunc loads one module file with its parameters.
type loadFunc func(file, params string) error

// probe loads the module that provides name, its dependencies first, with
// load. params apply to the module itself. It returns the files loaded.
func (idx *moduleIndex) probe(name, params string, load loadFunc) ([]string, error) {
	mod, builtin, err := idx.resolve(name)
	if err != nil || builtin {
		return nil, err
	}
	files := idx.deps[mod]
	var loaded []string
	// modules.dep lists a module's dependencies so that the last one
	// needs none of the others: load from the end.
	for i := len(files) - 1; i >= 1; i-- {
		if err := load(filepath.Join(idx.dir, files[i]), ""); err != nil {
			return loaded, fmt.Errorf("loading %s (needed by %s): %w", moduleName(files[i]), mod, err)
		}
		loaded = append(loaded, files[i])
	}
	if err := load(filepath.Join(idx.dir, files[0]), params); err != nil {
		return loaded, fmt.Errorf("loading %s: %w", mod, err)
	}
	return append(loaded, files[0]), nil
}

// finitModule loads a module file into the running kernel; one already
// loaded is no error.
func finitModule(file, params string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if moduleName(file)+".ko" != path.Base(file) {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), params, flags)
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		return nil
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("finit_module %s: %w (the kernel has no CONFIG_MODULES)", file, err)
	case flags != 0 && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)):
		return fmt.Errorf("finit_module %s: %w (a compressed module: the kernel needs CONFIG_MODULE_DECOMPRESS)", file, err)
	}
	return fmt.Errorf("finit_module %s: %w", file, err)
}

// modulesRoot is where modprobe looks for the running kernel's modules
// (proto.ModulesDir; a test's directory).
var modulesRoot = proto.ModulesDir

// releaseModules is the module index of the running kernel.
func releaseModules() (*moduleIndex, error) {
	return loadModuleIndex(filepath.Join(modulesRoot, kernelRelease()))
}

// moduleLoader loads a module file for modprobeMain (finitModule; a
// test's recorder).
var moduleLoader loadFunc = finitModule

// loadModules loads each of names with its dependencies, stopping at the
// first that fails.
func loadModules(idx *moduleIndex, names []string, load loadFunc) error {
	for _, n := range names {
		if _, err := idx.probe(n, "", load); err != nil {
			return err
		}
	}
	return nil
}

// modprobeMain is the agent called as modprobe:
//
//	modprobe [-q] [-v] [-a] [-n] [-b] [-s] NAME [PARAM=VALUE...]
//	modprobe -a [-q] [-v] NAME...
//
// It loads NAME (with -a, every NAME) and its dependencies from
// /lib/modules/$(uname -r). -q says nothing when a module is missing,
// -v names each file loaded, -n only resolves. Removal (-r) is not
// supported. It returns the exit code.
func modprobeMain(args []string, stdout, stderr io.Writer) int {
	var quiet, verbose, all, dry bool
	var rest []string
	for i, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = args[i:]
			break
		}
		for _, c := range strings.TrimLeft(a, "-") {
			switch c {
			case 'q':
				quiet = true
			case 'v':
				verbose = true
			case 'a':
				all = true
			case 'n':
				dry = true
			case 'b', 's': // blacklist, syslog: nothing to do
			default:
				fmt.Fprintf(stderr, "modprobe: option %q is not supported by kvmtest's modprobe\n", a)
				return 2
			}
		}
	}
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "modprobe: no module named")
		return 2
	}
	idx, err := releaseModules()
	if err != nil {
		fmt.Fprintf(stderr, "modprobe: %v\n", err)
		return 1
	}
	load := moduleLoader
	if dry {
		load = func(string, string) error { return nil }
	}
	type job struct{ name, params string }
	jobs := []job{{rest[0], strings.Join(rest[1:], " ")}}
	if all {
		jobs = jobs[:0]
		for _, n := range rest {
			jobs = append(jobs, job{n, ""})
		}
	}
	code := 0
	for _, j := range jobs {
		files, err := idx.probe(j.name, j.params, load)
		if verbose {
			for _, f := range files {
				fmt.Fprintf(stdout, "insmod %s %s\n", filepath.Join(idx.dir, f), j.params)
			}
		}
		if err != nil {
			if !quiet || !strings.Contains(err.Error(), "not found") {
				fmt.Fprintf(stderr, "modprobe: %v\n", err)
			}
			code = 1
		}
	}
	return code
}
