// Package matrices loads, validates and expands kvmtest matrix files.
//
// A matrix is a YAML file naming kernels, patch series ("patchsets"),
// kernel configurations, guest architectures and guest test suites. It
// expands into cells, one per (kernel, patchset, config, architecture);
// each cell is built once and booted once, and runs every suite its
// architecture allows. A prebuilt kernel takes no config: its cells have
// the pseudo-config "prebuilt" instead (see AllCells). The language is
// described in docs/matrix.md.
//
// Load is strict: unknown fields, wrong types, missing required fields, bad
// values, dangling references and missing files are all reported at once,
// each as FILE:LINE:COL: message, in an ErrorList.
package matrices

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"

	"github.com/kvmtest/kvmtest/internal/arch"
)

// Position is where something was defined: a file as it was named to Load
// (or joined from it for included files), and a 1-based line and column.
type Position struct {
	File      string
	Line, Col int
}

func (p Position) String() string {
	if p.File == "" {
		return "-"
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Matrix is a loaded, validated and resolved matrix file.
type Matrix struct {
	Name        string
	Description string
	File        string   // absolute path of the matrix file
	Files       []string // absolute paths of the matrix file and every file it includes, in load order
	Digest      string   // hex sha256 over the bytes of the matrix file and its included files
	// Arches is the architecture axis: kvmtest's names (internal/arch),
	// in the order of the matrix's arch: list; [arch.Default] when it
	// gives none. A Matrix built by hand may leave it nil, which means
	// the same.
	Arches    []string
	archPos   Position // of the top-level arch: list (see ArchPos)
	Kernels   []*Kernel
	Patchsets []*Patchset
	Configs   []*Config
	Suites    []*Suite
	VM        VM
	Exclude   []Rule
	Include   []Rule // include rules over axis values; when present, only matching cells are kept
	Expect    []*Expectation
	Baseline  Baseline
	// Warnings are problems that do not stop a run (vCPUs the kernel or
	// the host cannot use), as FILE:LINE:COL: message, sorted.
	Warnings ErrorList
}

// ArchPos is where the matrix names the architecture name: its top-level
// arch: list, or, when it has none (x86_64 alone), the matrix file.
func (m *Matrix) ArchPos(name string) Position {
	if m.archPos.File != "" {
		return m.archPos
	}
	return Position{File: m.File, Line: 1, Col: 1}
}

// Kernel is one value of the kernel axis.
type Kernel struct {
	Name        string
	Description string
	// Version as given, or read from the source's Makefile when not given
	// and something in the matrix needs it (an applies-to constraint or a
	// requires.kernel); always read for a path source. May be "" when not
	// needed: ResolveVersion reads it on demand. A prebuilt kernel's
	// version is never read at plan time: it is "" unless given.
	Version string
	Source  Source
	// Arches are the architectures the kernel is built and booted for:
	// its arch: list, else every architecture of the matrix, always in
	// the order of Matrix.Arches. A prebuilt kernel has exactly one. Nil
	// (a Kernel built by hand) means every architecture of the matrix.
	Arches []string
	Pos    Position
}

// Source says where a kernel comes from: exactly one field is set.
// Tarball, Path and Git are sources the builder configures and builds;
// Prebuilt is a kernel built elsewhere.
type Source struct {
	Tarball string // absolute path, or ""
	Path    string // absolute path of a local tree (never modified), or ""
	Git     *GitSource
	// Prebuilt is a kernel that is not built: its cells take no config
	// and no patch series (see AllCells).
	Prebuilt *PrebuiltSource
}

// PrebuiltSource is a kernel built elsewhere: exactly one of Image, Deb
// and Package is set. Paths are absolute and existed when the matrix was
// loaded.
type PrebuiltSource struct {
	// Image is a kernel image QEMU boots with -kernel (a bzImage, such as
	// arch/x86/boot/bzImage or /boot/vmlinuz-RELEASE).
	Image string
	// Modules, with Image, is its module directory as `make
	// modules_install` writes it, lib/modules/RELEASE (modules.dep,
	// kernel/...); "" when the image comes without modules.
	Modules string
	// Config, with Image, is the .config it was built with; "" when not
	// known (requires.config cannot then be met).
	Config string
	// Deb is a Debian linux-image-*.deb file: image, modules and config
	// are unpacked from it.
	Deb string
	// Package is a Debian package name (linux-image-6.1.0-26-amd64) that
	// the builder fetches with apt-get download, then unpacks as Deb.
	Package string
}

// GitSource is a git repository and a ref (tag, branch or commit).
type GitSource struct {
	Repo string // absolute path, or a URL as written
	Ref  string
}

// Kind returns "tarball", "path" or "git" for a source that is built, and
// "prebuilt" (an image), "deb" or "package" for a prebuilt kernel.
func (s Source) Kind() string {
	switch {
	case s.Tarball != "":
		return "tarball"
	case s.Path != "":
		return "path"
	case s.Git != nil:
		return "git"
	case s.Prebuilt == nil:
	case s.Prebuilt.Image != "":
		return "prebuilt"
	case s.Prebuilt.Deb != "":
		return "deb"
	case s.Prebuilt.Package != "":
		return "package"
	}
	return ""
}

// Patchset is one value of the patchset axis.
type Patchset struct {
	Name        string
	Description string
	// Series is the absolute path of a directory of format-patch files
	// (applied in name order), a quilt series file, or an mbox; "" for no
	// patches.
	Series string
	// SeriesFormat is "dir", "quilt" or "mbox" (or "" without Series).
	SeriesFormat string
	AppliesTo    string // constraint text as written, "" = all kernels
	Line         int    // line of the definition, for messages
	Pos          Position
}

// Applies reports whether the patchset applies to a kernel of the given
// version. An empty AppliesTo applies to everything.
func (p *Patchset) Applies(kernelVersion string) (bool, error) {
	return CheckKernelVersion(p.AppliesTo, kernelVersion)
}

// Config is one value of the config axis, or the pseudo-config of a
// prebuilt kernel's cells.
type Config struct {
	Name        string
	Description string
	Base        string   // "tinyconfig", "defconfig", "allnoconfig", or an absolute path of a config file
	Fragments   []string // absolute paths, merged in order
	// ArchFragments are more fragments (absolute paths) per architecture
	// (kvmtest's names), merged after Fragments, and before Options, in
	// the cells of that architecture only. FragmentsFor gives a cell's.
	ArchFragments map[string][]string
	Options       []string // inline lines "CONFIG_X=y" or "# CONFIG_Y is not set", merged after the fragments
	// Prebuilt marks the pseudo-config PrebuiltConfigName of a prebuilt
	// kernel's cells: the kernel is not configured (Base, Fragments and
	// Options are empty); its configuration is the one it was built with.
	Prebuilt bool
	Pos      Position
}

// FragmentsFor returns the fragments a cell of architecture a merges, in
// order: Fragments, then ArchFragments[a]. The slice is the caller's to
// keep; appending to it never changes c.
func (c *Config) FragmentsFor(a string) []string {
	return append(slices.Clip(c.Fragments), c.ArchFragments[a]...)
}

// PrebuiltConfigName is the name of the pseudo-config of every cell of a
// prebuilt kernel (cell id KERNEL-PATCHSET-prebuilt). No config of the
// config axis may take it.
const PrebuiltConfigName = "prebuilt"

// prebuiltConfig returns the pseudo-config of kernel k's cells, defined
// where k is.
func prebuiltConfig(k *Kernel) *Config {
	return &Config{Name: PrebuiltConfigName, Description: "the configuration kernel " + k.Name + " was built with", Prebuilt: true, Pos: k.Pos}
}

// skipPrebuiltSeries is the Skip of a cell whose patchset has a series
// and whose kernel is prebuilt.
const skipPrebuiltSeries = "patch series cannot apply to a prebuilt kernel"

// BaseTargets are the make targets a config's base may name.
var BaseTargets = []string{"tinyconfig", "allnoconfig", "defconfig"}

// IsTarget reports whether Base is a make target rather than a file.
func (c *Config) IsTarget() bool {
	for _, t := range BaseTargets {
		if c.Base == t {
			return true
		}
	}
	return false
}

// Suite is a guest test suite; every cell runs every suite.
type Suite struct {
	Name        string
	Description string
	GoTest      string     // absolute directory of a Go test package (compiled with `go test -c`), or ""
	Binary      string     // absolute path of a prebuilt static binary, or ""
	Command     []string   // argv of a program already in the initramfs, or nil
	Kselftest   *Kselftest // kernel selftests built from each cell's own tree, or nil
	Args        []string
	Timeout     time.Duration // default 5m
	Format      string        // "go" (default for go-test), "tap", "ktap", "exit-code" (default otherwise)
	Requires    Requires
	// Rootfs is where the suite runs: RootfsInitramfs, RootfsHost or an
	// absolute directory, as VM.Rootfs; "" inherits vm.rootfs (see
	// Matrix.SuiteRoot).
	Rootfs string
	// Workdir is the absolute, clean guest directory the suite runs in;
	// "" is a fresh directory of its own, GuestWorkdir.
	Workdir string
	// Modules are kernel modules (by module name, such as lkdtm or
	// virtio_net) the agent loads, with their dependencies (modprobe),
	// in this order before the suite runs.
	Modules []string
	Files   []File
	Pos     Position
}

// DefaultWorkdirRoot holds the working directory of every suite that
// gives no workdir: a fresh one per suite, DefaultWorkdirRoot/NAME.
const DefaultWorkdirRoot = "/run/kvmtest/work"

// GuestWorkdir returns the guest directory the suite runs in: Workdir, or
// DefaultWorkdirRoot/NAME. The agent makes it (with its parents) before
// the suite starts, empty when it is the default, and puts there the
// suite's files whose dst is under it.
func (s *Suite) GuestWorkdir() string {
	if s.Workdir != "" {
		return s.Workdir
	}
	return path.Join(DefaultWorkdirRoot, s.Name)
}

// Suite formats.
var Formats = []string{"go", "tap", "ktap", "exit-code"}

// Kselftest names programs of one directory of the kernel's selftests
// (tools/testing/selftests/DIR). They are built on the host, statically,
// from the source tree of each cell (its patches applied), and run in the
// guest one after another; their KTAP output gives one result per case.
type Kselftest struct {
	Dir   string   // relative to tools/testing/selftests, such as "mm"
	Tests []string // programs run in order: make targets (cow) or scripts in DIR (short_splice_read.sh)
	Extra []string // built or copied next to them but not run (helpers the scripts call)
}

// Kind returns "go-test", "binary", "command" or "kselftest".
func (s *Suite) Kind() string {
	switch {
	case s.GoTest != "":
		return "go-test"
	case s.Binary != "":
		return "binary"
	case len(s.Command) > 0:
		return "command"
	case s.Kselftest != nil:
		return "kselftest"
	}
	return ""
}

// Requires says what a cell must have for a suite to run in it.
type Requires struct {
	Kernel string // kernel version constraint, "" = any
	// Config entries are "CONFIG_X" (must be =y) or "CONFIG_X=VALUE".
	// "CONFIG_X=m" means built as a module, and the cell's kernel ships
	// its modules: ConfigMeets judges the .config, and the engine also
	// checks the kernel's artifact has modules (ModuleOptions).
	Config []string
	// Arch are the architectures (kvmtest's names) whose cells run the
	// suite; nil = every one. ArchMeets judges a cell's.
	Arch []string
}

// File is a host file or directory copied into the guest. A directory is
// copied recursively: its regular files (with their permission bits), its
// directories, and its symbolic links as links. A Dst under the suite's
// GuestWorkdir is put there when the suite starts; any other is in the
// initramfs from the boot.
type File struct {
	Src string // absolute host path of a regular file or a directory
	Dst string // absolute guest path
}

// VM is how every cell's virtual machine is started.
type VM struct {
	MemoryMiB   int           // from "512M", "1G"; default 512
	CPUs        int           // default 1
	Accel       string        // auto|kvm|tcg, default auto
	BootTimeout time.Duration // default 60s
	// SilenceTimeout ends a VM that sends nothing (no console byte, no
	// event: the agent's heartbeat stops when the kernel hangs); default 30s.
	SilenceTimeout time.Duration
	Cmdline        []string // extra kernel command line words
	QEMUArgs       []string // extra QEMU argv (a list, never a shell string)
	// Rootfs is where the suites run: RootfsInitramfs (default), RootfsHost
	// (the host's / shared read-only, with a tmpfs overlay in the guest), or
	// the absolute path of a directory shared the same way.
	Rootfs string
	// ShareTransport carries a shared root: auto (default: virtiofs,
	// 9p when virtiofsd cannot run), virtiofs or 9p.
	ShareTransport string
}

// Values of vm.rootfs that are not a directory.
const (
	RootfsInitramfs = "initramfs"
	RootfsHost      = "host"
)

// SharedRoot returns the host directory vm.rootfs shares as the suites'
// root, "" when they run in the initramfs. A suite's own rootfs: wins
// (Matrix.SuiteRoot).
func (vm VM) SharedRoot() string {
	return sharedRoot(vm.Rootfs)
}

// sharedRoot returns the host directory a rootfs value shares: "/" for
// host, the directory itself, "" for the initramfs (or no value).
func sharedRoot(rootfs string) string {
	switch rootfs {
	case "", RootfsInitramfs:
		return ""
	case RootfsHost:
		return "/"
	}
	return rootfs
}

// SuiteRoot returns the host directory shared as suite s's root, "" when
// it runs in the initramfs, with the meaning of VM.SharedRoot: s.Rootfs
// when given, else vm.rootfs.
func (m *Matrix) SuiteRoot(s *Suite) string {
	if s.Rootfs != "" {
		return sharedRoot(s.Rootfs)
	}
	return m.VM.SharedRoot()
}

// SharedRoot returns the one host directory the run shares as a root (a
// matrix has at most one: Load refuses two): vm.rootfs's, else the first
// suite's that shares one; "" when no rootfs value shares a directory.
func (m *Matrix) SharedRoot() string {
	if r := m.VM.SharedRoot(); r != "" {
		return r
	}
	for _, s := range m.Suites {
		if r := sharedRoot(s.Rootfs); r != "" {
			return r
		}
	}
	return ""
}

// Accels are the valid values of vm.accel.
var Accels = []string{"auto", "kvm", "tcg"}

// ShareTransports are the valid values of vm.share-transport.
var ShareTransports = []string{"auto", "virtiofs", "9p"}

// Rule selects cells by axis values. An empty field matches any value; a
// field may be a glob with * and ?.
type Rule struct {
	Kernel, Patchset, Config string
	Arch                     string // the cell's architecture (kvmtest's name)
	Reason                   string // optional, shown by plan
	Pos                      Position
}

// Match reports whether the rule selects the cell.
func (r Rule) Match(c Cell) bool {
	return fieldMatch(r.Kernel, c.Kernel.Name) &&
		fieldMatch(r.Patchset, c.Patchset.Name) &&
		fieldMatch(r.Config, c.Config.Name) &&
		fieldMatch(r.Arch, cellArch(c))
}

// Expectation is a known, wanted result that differs from "pass".
type Expectation struct {
	Kernel, Patchset, Config string
	Arch                     string // the cell's architecture, as Rule.Arch
	Suite, Test, Status      string
	Reason                   string
	Pos                      Position
}

// Statuses are the valid values of an expectation's status.
var Statuses = []string{"pass", "fail", "skip"}

// Baseline names what the other patchsets are compared with: a patchset
// (compared within the same kernel, config and architecture) or one cell.
type Baseline struct {
	Patchset string
	Cell     string
	// Arch, with Patchset, compares every cell with the baseline
	// patchset's cell of the same kernel and config on this one
	// architecture instead of its own; "" is the cell's own.
	Arch string
}

// Cell is one (kernel, patchset, config, architecture) combination.
type Cell struct {
	ID       string // Matrix.CellID: KERNEL-PATCHSET-CONFIG, or KERNEL-PATCHSET-CONFIG-ARCH when the matrix has several architectures
	Kernel   *Kernel
	Patchset *Patchset
	Config   *Config
	// Arch is the architecture the cell is built for and boots (kvmtest's
	// name, internal/arch); AllCells always sets it.
	Arch string
	// Skip, when non-empty, says why the cell is not run (its patchset
	// has a series and its kernel is prebuilt, or its applies-to excludes
	// the kernel's version); such cells are listed with status skipped.
	Skip string
	// Excluded, when non-empty, says which rule removed the cell. Only
	// AllCells returns excluded cells.
	Excluded string
}

// CellID joins names into the id of a cell of a matrix with one
// architecture: KERNEL-PATCHSET-CONFIG. Matrix.CellID is the rule for
// any matrix.
func CellID(kernel, patchset, config string) string {
	return kernel + "-" + patchset + "-" + config
}

// CellID returns the id of the matrix's cell of these names: when the
// matrix has one architecture (whichever), KERNEL-PATCHSET-CONFIG (the
// package's CellID), so that the ids of a matrix without arch: never
// change; when it has several, KERNEL-PATCHSET-CONFIG-ARCH
// (6.12-base-minimal-arm64). An architecture's name has no "-", so the
// last part of a multi-architecture id is always its architecture.
func (m *Matrix) CellID(kernel, patchset, config, arch string) string {
	if m.MultiArch() {
		return CellID(kernel, patchset, config) + "-" + arch
	}
	return CellID(kernel, patchset, config)
}

// MultiArch reports whether the matrix has more than one architecture:
// its cell ids then end in -ARCH (CellID), and plan shows each cell's.
func (m *Matrix) MultiArch() bool { return len(m.Arches) > 1 }

// arches returns the architecture axis: Arches, or [arch.Default] for a
// Matrix built without one.
func (m *Matrix) arches() []string {
	if len(m.Arches) == 0 {
		return []string{arch.Default}
	}
	return m.Arches
}

// kernelArches returns the architectures of kernel k's cells, in the
// order of the axis: k.Arches, or every architecture of the matrix when
// k has none.
func (m *Matrix) kernelArches(k *Kernel) []string {
	if len(k.Arches) == 0 {
		return m.arches()
	}
	var out []string
	for _, a := range m.arches() {
		if slices.Contains(k.Arches, a) {
			out = append(out, a)
		}
	}
	return out
}

// cellArch is the architecture of a cell: Arch, or arch.Default for a
// Cell built by hand without one.
func cellArch(c Cell) string {
	if c.Arch == "" {
		return arch.Default
	}
	return c.Arch
}

// AllCells expands kernels × patchsets × configs × architectures in
// matrix order (kernel major, then patchset, then config, then
// architecture), with Excluded set on the cells that include/exclude
// rules remove and Skip set on those that applies-to rules out. A
// kernel's cells are those of its architectures only (Kernel.Arches), in
// the order of Matrix.Arches; each cell's ID is Matrix.CellID's.
//
// The config axis does not apply to a prebuilt kernel (Source.Prebuilt):
// each of its patchsets gives one cell, whose Config is the pseudo-config
// PrebuiltConfigName (Prebuilt set, Base empty), whatever m.Configs holds.
// Rules and expectations see it by that name. Such a cell whose patchset
// has a series is skipped ("patch series cannot apply to a prebuilt
// kernel"), before any applies-to is judged.
func (m *Matrix) AllCells() []Cell {
	var out []Cell
	for _, k := range m.Kernels {
		configs := m.Configs
		prebuilt := k.Source.Prebuilt != nil
		if prebuilt {
			configs = []*Config{prebuiltConfig(k)}
		}
		var kv *version.Version
		var kerr error
		needV := false
		for _, p := range m.Patchsets {
			if p.AppliesTo != "" {
				needV = true
			}
		}
		if needV {
			if k.Version == "" {
				kerr = fmt.Errorf("the version of kernel %q is not known", k.Name)
			} else {
				kv, kerr = ParseKernelVersion(k.Version)
			}
		}
		arches := m.kernelArches(k)
		for _, p := range m.Patchsets {
			for _, c := range configs {
				skip := ""
				if prebuilt && p.Series != "" {
					skip = skipPrebuiltSeries
				} else if p.AppliesTo != "" {
					if kerr != nil {
						skip = fmt.Sprintf("patchset %s applies to %s: %v", p.Name, p.AppliesTo, kerr)
					} else if pc, err := ParseConstraint(p.AppliesTo); err != nil {
						skip = fmt.Sprintf("patchset %s: %v", p.Name, err)
					} else if !pc.Check(kv) {
						skip = fmt.Sprintf("patchset %s applies to %s; kernel %s is %s", p.Name, p.AppliesTo, k.Name, k.Version)
					}
				}
				for _, a := range arches {
					cell := Cell{ID: m.CellID(k.Name, p.Name, c.Name, a), Kernel: k, Patchset: p, Config: c, Arch: a, Skip: skip}
					cell.Excluded = m.excludedBy(cell)
					out = append(out, cell)
				}
			}
		}
	}
	return out
}

func (m *Matrix) excludedBy(c Cell) string {
	if len(m.Include) > 0 {
		in := false
		for _, r := range m.Include {
			if r.Match(c) {
				in = true
				break
			}
		}
		if !in {
			return "matches no include rule"
		}
	}
	for _, r := range m.Exclude {
		if r.Match(c) {
			s := "excluded by the rule at " + r.Pos.String()
			if r.Pos.File == "" {
				s = "excluded by rule " + r.describe()
			}
			if r.Reason != "" {
				s += ": " + r.Reason
			}
			return s
		}
	}
	return ""
}

func (r Rule) describe() string {
	var parts []string
	if r.Kernel != "" {
		parts = append(parts, "kernel="+r.Kernel)
	}
	if r.Patchset != "" {
		parts = append(parts, "patchset="+r.Patchset)
	}
	if r.Config != "" {
		parts = append(parts, "config="+r.Config)
	}
	if r.Arch != "" {
		parts = append(parts, "arch="+r.Arch)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Cells expands kernels × patchsets × configs × architectures in matrix
// order (kernel major; a prebuilt kernel's patchsets × its pseudo-config,
// see AllCells),
// applying include and exclude rules. Cells removed by rules are dropped;
// cells ruled out by applies-to, and prebuilt ones whose patchset has a
// series, are kept with Skip set.
func (m *Matrix) Cells() []Cell {
	all := m.AllCells()
	out := all[:0:0]
	for _, c := range all {
		if c.Excluded == "" {
			out = append(out, c)
		}
	}
	return out
}

// Cell returns the cell (not excluded) with the given id.
func (m *Matrix) Cell(id string) (Cell, bool) {
	for _, c := range m.Cells() {
		if c.ID == id {
			return c, true
		}
	}
	return Cell{}, false
}

// BaselineOf returns the cell that c is compared with: the baseline cell,
// or the cell of the baseline patchset with the same kernel, config and
// architecture (Baseline.Arch's, when given, instead of c's). ok is false
// when there is none (it is excluded or skipped, or the kernel does not
// run on that architecture) or when c is the baseline itself.
func (m *Matrix) BaselineOf(c Cell) (Cell, bool) {
	var want string
	if m.Baseline.Cell != "" {
		want = m.Baseline.Cell
	} else if m.Baseline.Patchset != "" {
		a := cellArch(c)
		if m.Baseline.Arch != "" {
			a = m.Baseline.Arch
		}
		want = m.CellID(c.Kernel.Name, m.Baseline.Patchset, c.Config.Name, a)
	} else {
		return Cell{}, false
	}
	if want == c.ID {
		return Cell{}, false
	}
	b, ok := m.Cell(want)
	if !ok || b.Skip != "" {
		return Cell{}, false
	}
	return b, true
}

// hasPrebuilt reports whether a kernel of the matrix is prebuilt.
func (m *Matrix) hasPrebuilt() bool {
	for _, k := range m.Kernels {
		if k.Source.Prebuilt != nil {
			return true
		}
	}
	return false
}

// Kernel returns the kernel with the given name, or nil.
func (m *Matrix) Kernel(name string) *Kernel {
	for _, k := range m.Kernels {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// Patchset returns the patchset with the given name, or nil.
func (m *Matrix) Patchset(name string) *Patchset {
	for _, p := range m.Patchsets {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Config returns the config with the given name, or nil.
func (m *Matrix) Config(name string) *Config {
	for _, c := range m.Configs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Suite returns the suite with the given name, or nil.
func (m *Matrix) Suite(name string) *Suite {
	for _, s := range m.Suites {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Expected returns the expected status ("pass", "fail" or "skip") of a test
// of a suite in a cell, or of the whole suite when test is "", and whether
// an expectation matched (when none does, "pass" is expected).
//
// An expectation with a test matches only test queries; one without a test
// matches only whole-suite queries. When several match, the most specific
// wins (the one naming the most of kernel, patchset, config, arch, suite,
// with exact names counting before globs); among equally specific ones the
// last in the file wins.
func (m *Matrix) Expected(c Cell, suite, test string) (status string, ok bool) {
	best := -1
	for _, e := range m.Expect {
		if (e.Test == "") != (test == "") {
			continue
		}
		if test != "" && !globMatch(e.Test, test) {
			continue
		}
		if !fieldMatch(e.Suite, suite) {
			continue
		}
		if c.Kernel != nil && !fieldMatch(e.Kernel, c.Kernel.Name) ||
			c.Patchset != nil && !fieldMatch(e.Patchset, c.Patchset.Name) ||
			c.Config != nil && !fieldMatch(e.Config, c.Config.Name) ||
			!fieldMatch(e.Arch, cellArch(c)) {
			continue
		}
		score := 0
		for _, f := range []string{e.Kernel, e.Patchset, e.Config, e.Arch, e.Suite} {
			switch {
			case f == "":
			case isGlob(f):
				score += 1
			default:
				score += 2
			}
		}
		if score >= best {
			best = score
			status, ok = e.Status, true
		}
	}
	if !ok {
		return "pass", false
	}
	return status, true
}

// fieldMatch: an empty pattern matches anything.
func fieldMatch(pattern, s string) bool {
	return pattern == "" || globMatch(pattern, s)
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?") }

// globMatch matches s against a pattern in which * matches any run of
// characters (including / and -) and ? any one character.
func globMatch(pattern, s string) bool {
	if !isGlob(pattern) {
		return pattern == s
	}
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
