package matrices

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kvmtest/kvmtest/elfcheck"
	"github.com/kvmtest/kvmtest/internal/arch"
)

// The checks of "What validate refuses" (docs/matrix.md) that need more
// than the matrix's text: sources that tar and git must read, suite
// programs the guest must be able to execute, and what the host can give
// a VM. Package matrices runs no program: tar and git are the builder's
// (SourceChecker), host facts are given (Host).

// SourceChecker inspects kernel sources before anything is built. Each
// function returns a phrase that follows the name of what it checked
// (`tarball "x.tar.xz": not a tarball: …`); a nil function checks
// nothing. kvmtest's command installs the builder's (builder.CheckTarball,
// CheckGitRepo, CheckGitRef) as DefaultSourceChecker.
type SourceChecker struct {
	Tarball func(path string) error      // an existing file named by source.tarball
	GitRepo func(repo string) error      // an existing local directory named by source.git.repo
	GitRef  func(repo, ref string) error // source.git.ref, in a repository GitRepo accepted
}

// DefaultSourceChecker is the SourceChecker of a Load whose LoadOptions
// name none. Its zero value checks nothing.
var DefaultSourceChecker SourceChecker

// Host is what the machine that runs the VMs has. A zero field is unknown
// and checks nothing.
type Host struct {
	MemTotalMiB int // MemTotal of /proc/meminfo: no VM may have more
	CPUs        int // online CPUs: more vCPUs than these are a warning
}

// DefaultHost is the Host of a Load whose LoadOptions name none. Its zero
// value checks nothing; kvmtest's command installs this machine's.
var DefaultHost Host

// Guest is what the guest has besides the files a matrix puts into its
// initramfs, for judging whether a suite's program can execute there.
// Its architecture is each cell's (Cell.Arch): a program is judged for
// every architecture whose cells run its suite.
type Guest struct {
	// BusyboxApplets are the applets of the static busybox the engine
	// installs as /bin/NAME when the matrix has a kselftest suite; nil is
	// unknown, and every /bin/NAME is then taken for one.
	BusyboxApplets []string
	// Rootfs reports whether the root filesystem a suite runs in has
	// path (a dynamic loader, a shell). Nil: suites run in the initramfs
	// alone. It is the hook for suites that run in a rootfs.
	Rootfs func(s *Suite, path string) bool
}

// DefaultGuest is the Guest of a Load whose LoadOptions name none.
var DefaultGuest Guest

// guestInit and guestTest2JSON are in every initramfs (see the engine).
var guestFixed = []string{"/init", "/kvmtest/bin/test2json"}

// progRef is a suite program to check once the whole matrix is read: a
// binary, or the host file a command's argv[0] is copied from.
type progRef struct {
	f    *file
	n    *yaml.Node // the binary value, or the command's first item
	s    *Suite
	what string // binary "x", or program "/opt/x" of command
	host string // absolute host path of a binary; "" for a command
}

// checkTarball reports a tarball that tar cannot read, at its line.
func (f *file) checkTarball(n *yaml.Node, s, p string) bool {
	if c := f.l.sources.Tarball; c != nil {
		if err := c(p); err != nil {
			f.errAt(n, "tarball %q: %v", s, err)
			return false
		}
	}
	return true
}

// checkGit reports a local repository that is not one, or a ref it does
// not have, each at its line.
func (f *file) checkGit(rn, refn *yaml.Node, repo, p, ref string) bool {
	c := f.l.sources
	if c.GitRepo != nil {
		if err := c.GitRepo(p); err != nil {
			f.errAt(rn, "git repository %q: %v", repo, err)
			return false
		}
	}
	if c.GitRef != nil {
		if err := c.GitRef(p, ref); err != nil {
			f.errAt(refn, "git ref %q: %v in repository %q", ref, err, repo)
			return false
		}
	}
	return true
}

// checkHostVM refuses a vm.memory the host does not have and warns of
// more vCPUs than it has CPUs.
func (f *file) checkHostVM(memN, cpusN *yaml.Node, vm VM) {
	h := f.l.host
	if memN != nil && h.MemTotalMiB > 0 && vm.MemoryMiB > h.MemTotalMiB {
		f.errAt(memN, "vm.memory %s (%d MiB) is more than this host's memory (MemTotal %d MiB): the host cannot give it; give at most %dM",
			strings.TrimSpace(memN.Value), vm.MemoryMiB, h.MemTotalMiB, h.MemTotalMiB)
	}
	if cpusN != nil && h.CPUs > 0 && vm.CPUs > h.CPUs {
		f.warnAt(cpusN, "vm.cpus %d is more than this host's %d online CPUs: the vCPUs share them (allowed, but slower, and each VM runs alone)", vm.CPUs, h.CPUs)
	}
}

// warnAt records a warning: it does not fail the load.
func (f *file) warnAt(n *yaml.Node, format string, args ...any) {
	p := f.pos(n)
	f.l.m.Warnings = append(f.l.m.Warnings, &Error{File: p.File, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)})
}

// guestFS is what the guest's filesystem holds, as far as the matrix
// tells: the initramfs's fixed programs, the files entries of every suite
// (one initramfs holds them all), busybox when a kselftest suite brings
// it, and the Guest's rootfs hook.
type guestFS struct {
	files   []File
	busybox bool
	guest   Guest
	m       *Matrix // for the host directory shared as a suite's root
}

func newGuestFS(m *Matrix, g Guest) *guestFS {
	fs := &guestFS{guest: g, m: m}
	for _, s := range m.Suites {
		fs.files = append(fs.files, s.Files...)
		fs.busybox = fs.busybox || s.Kselftest != nil
	}
	return fs
}

// hostFile returns the host file a guest path is copied from by a files
// entry (the entry itself, or a file under an entry's directory).
func (fs *guestFS) hostFile(p string) (string, bool) {
	for _, fl := range fs.files {
		if p == fl.Dst {
			return fl.Src, true
		}
		if rel, ok := strings.CutPrefix(p, fl.Dst+"/"); ok {
			hp := filepath.Join(fl.Src, filepath.FromSlash(rel))
			if _, err := os.Stat(hp); err == nil {
				return hp, true
			}
		}
	}
	return "", false
}

// has reports whether suite s's guest has path p.
func (fs *guestFS) has(s *Suite, p string) bool {
	if contains(guestFixed, p) || strings.HasPrefix(p, "/kvmtest/suites/") {
		return true
	}
	if _, ok := fs.hostFile(p); ok {
		return true
	}
	if fs.busybox && path.Dir(p) == "/bin" {
		if a := fs.guest.BusyboxApplets; a == nil || path.Base(p) == "busybox" || contains(a, path.Base(p)) {
			return true
		}
	}
	if root := fs.m.SuiteRoot(s); root != "" {
		// The suite runs in this directory of the host, shared (with
		// /init and /kvmtest of the initramfs seen through it).
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			return true
		}
	}
	return fs.guest.Rootfs != nil && fs.guest.Rootfs(s, p)
}

// checkPrograms checks that each suite program can execute in the guest
// of every architecture whose cells run its suite (suiteArches). In a
// matrix of one architecture the messages are elfcheck's; in one of
// several, a program for another architecture than some of those cells'
// is named with kvmtest's names of both ("is an ELF program for x86_64,
// but the suite runs in arm64 cells").
func (l *loader) checkPrograms() {
	if len(l.progs) == 0 {
		return
	}
	fs := newGuestFS(l.m, l.guest)
	runs := l.suiteArches()
	for _, pr := range l.progs {
		host, what := pr.host, pr.what
		if host == "" {
			hp, ok := fs.hostFile(pr.n.Value)
			if fi, err := os.Stat(hp); !ok || err != nil || fi.IsDir() {
				continue // in the guest by other means (busybox, a rootfs), or not a file
			}
			host = hp
			what += fmt.Sprintf(" (copied from %q by files:)", relTo(pr.f, hp))
		}
		arches := runs[pr.s]
		if prog, ok := elfArch(host); ok && l.m.MultiArch() {
			var others []string
			for _, a := range arches {
				if a != prog {
					others = append(others, a)
				}
			}
			switch {
			case len(others) == 0:
			case !l.broken && !l.archBroken:
				msg := fmt.Sprintf("%s is an ELF program for %s, but the suite runs in %s cells", what, prog, strings.Join(others, " and "))
				if slices.Contains(arches, prog) {
					msg += fmt.Sprintf(" (give it requires: {arch: [%s]} to run it there only)", prog)
				}
				pr.f.errAt(pr.n, "%s", msg)
				continue
			case slices.Contains(l.m.Arches, prog):
				// The cells are not known for sure: judge the rest.
				arches = []string{prog}
			default:
				continue
			}
		}
		for _, a := range arches {
			ea, ok := elfcheck.ArchByName(arch.MustByName(a).ELF)
			if !ok {
				panic("matrices: elfcheck does not know architecture " + a)
			}
			err := elfcheck.Check(host, ea, func(p string) bool { return fs.has(pr.s, p) })
			if err == nil {
				continue
			}
			msg := fmt.Sprintf("%s %v", what, err)
			var mi *elfcheck.MissingInterpreterError
			if errors.As(err, &mi) && mi.Script {
				msg += ": " + fs.scriptHint()
			}
			pr.f.errAt(pr.n, "%s", msg) // once, whatever the architecture
			break
		}
	}
}

// suiteArches returns, per suite, the architectures of the cells that
// run it, in the matrix's order: those of the cells that rules keep and
// applies-to does not skip (in a matrix of one architecture, that one),
// that its requires.arch allows.
func (l *loader) suiteArches() map[*Suite][]string {
	cells := map[string]bool{}
	if l.m.MultiArch() {
		for _, c := range l.m.Cells() {
			if c.Skip == "" {
				cells[c.Arch] = true
			}
		}
	} else {
		cells[l.m.arches()[0]] = true // as before the axis: whatever the rules keep
	}
	out := map[*Suite][]string{}
	for _, s := range l.m.Suites {
		for _, a := range l.m.arches() {
			if cells[a] && ArchMeets(a, s.Requires.Arch) {
				out[s] = append(out[s], a)
			}
		}
	}
	return out
}

// elfArch returns the architecture an ELF file is for: kvmtest's name
// when internal/arch has it, else elfcheck's (i386), else the machine's;
// false when the file is not ELF.
func elfArch(p string) (string, bool) {
	f, err := elf.Open(p)
	if err != nil {
		return "", false
	}
	defer f.Close()
	for _, n := range arch.Names() {
		if ea, ok := elfcheck.ArchByName(arch.MustByName(n).ELF); ok && ea.Machine == f.Machine && ea.Class == f.Class && ea.Data == f.Data {
			return n, true
		}
	}
	for _, ea := range elfcheck.Archs {
		if ea.Machine == f.Machine && ea.Class == f.Class && ea.Data == f.Data {
			return ea.Name, true
		}
	}
	return fmt.Sprintf("%v (%v)", f.Machine, f.Class), true
}

// scriptHint says what the guest has for scripts.
func (fs *guestFS) scriptHint() string {
	if fs.busybox {
		return "the guest has busybox's applets in /bin (for the kselftest suites) and the files of files: entries; write #!/bin/sh, or add the interpreter with files:"
	}
	return "the guest's initramfs has no shell (busybox is installed as /bin/sh only when the matrix has a kselftest suite): add the interpreter with files:, or build a static program"
}

// relTo names a host path relative to the directory of the matrix file
// f, as the matrix would write it.
func relTo(f *file, p string) string {
	dir := f.dir
	if dir == "" {
		dir = filepath.Dir(f.abs)
	}
	if r, err := filepath.Rel(dir, p); err == nil {
		return r
	}
	return p
}

// ---- CONFIG_SMP ---------------------------------------------------------

// CPUWarnings says what a kernel configured as cfg (NAME -> value, as
// ParseKernelConfig reads a .config; an absent option is not set) cannot
// use of a VM with cpus vCPUs: all but one without CONFIG_SMP, those
// beyond CONFIG_NR_CPUS. It returns nothing when the kernel can use them
// all. The engine calls it with the built .config; the loader with what a
// config's base, fragments and options are known to give.
func CPUWarnings(cfg map[string]string, cpus int) []string {
	if cpus <= 1 {
		return nil
	}
	if cfg["CONFIG_SMP"] != "y" {
		return []string{fmt.Sprintf("vm.cpus %d but the kernel has no CONFIG_SMP: the guest runs on one CPU", cpus)}
	}
	if n, err := strconv.Atoi(cfg["CONFIG_NR_CPUS"]); err == nil && n > 0 && cpus > n {
		return []string{fmt.Sprintf("vm.cpus %d but the kernel has CONFIG_NR_CPUS=%d: the guest uses %d CPUs", cpus, n, n)}
	}
	return nil
}

// plannedOption returns what config c is known to set option name to
// before olddefconfig: its value ("" for not set) and why, or known false
// when that depends on the kernel (a defconfig base, a base file that
// does not mention it) in the cells of architecture a ("" for the
// fragments of every architecture alone). tinyconfig and allnoconfig
// leave every option they do not need unset; fragments (FragmentsFor)
// and then options override the base, a later line an earlier one.
func plannedOption(c *Config, a, name string) (value, why string, known bool) {
	if c.IsTarget() && c.Base != "defconfig" {
		value, why, known = "", c.Base+" leaves it unset", true
	} else if !c.IsTarget() {
		if data, err := os.ReadFile(c.Base); err == nil {
			if v, ok := kconfigValue(data, name); ok {
				value, why, known = v, "the base config file sets it so", true
			}
		}
	}
	for _, fr := range c.FragmentsFor(a) {
		if data, err := os.ReadFile(fr); err == nil {
			if v, ok := kconfigValue(data, name); ok {
				value, why, known = v, fmt.Sprintf("fragment %s sets it so", filepath.Base(fr)), true
			}
		}
	}
	if v, ok := kconfigValue([]byte(strings.Join(c.Options, "\n")), name); ok {
		value, why, known = v, "an option sets it so", true
	}
	return value, why, known
}

// configArch is one way a config is made: in the cells of one
// architecture, or of every one when the config has no arch-fragments
// for the matrix's (arch "").
type configArch struct {
	c    *Config
	arch string
}

// name is how warnings name it: config "c", or config "c" on arm64.
func (ca configArch) name() string {
	if ca.arch == "" {
		return fmt.Sprintf("config %q", ca.c.Name)
	}
	return fmt.Sprintf("config %q on %s", ca.c.Name, ca.arch)
}

// configArches returns the ways the matrix's configs are made, for the
// warnings that judge them (plannedOption): one per config, or, for a
// config with arch-fragments for an architecture of the matrix, one per
// architecture of the matrix.
func (m *Matrix) configArches() []configArch {
	var out []configArch
	for _, c := range m.Configs {
		if !slices.ContainsFunc(m.arches(), func(a string) bool { return len(c.ArchFragments[a]) > 0 }) {
			out = append(out, configArch{c, ""})
			continue
		}
		for _, a := range m.arches() {
			out = append(out, configArch{c, a})
		}
	}
	return out
}

// kconfigValue returns the value the last line of data about option name
// gives it ("" for "# NAME is not set" and NAME=n), and whether any does.
func kconfigValue(data []byte, name string) (string, bool) {
	val, found := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		switch {
		case t == "# "+name+" is not set" || t == name+"=n":
			val, found = "", true
		case strings.HasPrefix(t, name+"="):
			val, found = strings.TrimPrefix(t, name+"="), true
		}
	}
	return val, found
}

// warnCPUs warns, at vm.cpus, of each config whose kernel is known not
// to use the vCPUs (CPUWarnings on what plannedOption knows).
func (l *loader) warnCPUs() {
	if l.cpusNode == nil || l.m.VM.CPUs <= 1 {
		return
	}
	for _, ca := range l.m.configArches() {
		v, why, known := plannedOption(ca.c, ca.arch, "CONFIG_SMP")
		if !known {
			continue
		}
		cfg := map[string]string{}
		if v != "" {
			cfg["CONFIG_SMP"] = v
		}
		for _, w := range CPUWarnings(cfg, l.m.VM.CPUs) {
			l.top.warnAt(l.cpusNode, "%s: %s (CONFIG_SMP: %s)", ca.name(), w, why)
		}
	}
}

// rootfsUse is a rootfs value that shares a host directory: vm.rootfs
// or a suite's.
type rootfsUse struct {
	f    *file
	n    *yaml.Node // the value, as written
	what string     // vm.rootfs, or suite "NAME" rootfs
	dir  string     // the host directory shared
}

// rootfsUses returns the rootfs values that share a directory, vm.rootfs
// first, then the suites' in order.
func (l *loader) rootfsUses() []rootfsUse {
	var out []rootfsUse
	if d := l.m.VM.SharedRoot(); d != "" && l.rootfsNode != nil {
		out = append(out, rootfsUse{l.top, l.rootfsNode, "vm.rootfs", d})
	}
	for _, s := range l.m.Suites {
		if sn := l.suiteNodes[s]; sn != nil && sn.rootfs != nil && sharedRoot(s.Rootfs) != "" {
			out = append(out, rootfsUse{sn.f, sn.rootfs, fmt.Sprintf("suite %q rootfs", s.Name), sharedRoot(s.Rootfs)})
		}
	}
	return out
}

// checkSharedRoot refuses a second shared directory: one shared root per
// run (Matrix.SharedRoot), for now. Each rootfs value that shares another
// directory than the first is reported at its line, naming the first's.
func (l *loader) checkSharedRoot() {
	uses := l.rootfsUses()
	for _, u := range uses[min(1, len(uses)):] {
		if first := uses[0]; u.dir != first.dir {
			u.f.errAt(u.n, "%s %s shares another directory than %s %s (at %s): one shared root per run, for now; give them the same value, or initramfs",
				u.what, u.n.Value, first.what, first.n.Value, first.f.pos(first.n))
		}
	}
}

// warnRootfs warns, at the first rootfs value that shares a directory
// (vm.rootfs, else a suite's), of each config known to build a kernel
// that cannot mount a shared root: neither CONFIG_VIRTIO_FS nor
// CONFIG_9P_FS (by what plannedOption knows). The engine refuses such a
// cell before it boots.
func (l *loader) warnRootfs() {
	uses := l.rootfsUses()
	if len(uses) == 0 {
		return
	}
	u := uses[0]
	for _, ca := range l.m.configArches() {
		vfs, why, known1 := plannedOption(ca.c, ca.arch, "CONFIG_VIRTIO_FS")
		p9, _, known2 := plannedOption(ca.c, ca.arch, "CONFIG_9P_FS")
		if known1 && known2 && vfs == "" && p9 == "" {
			u.f.warnAt(u.n, "%s: %s %s needs CONFIG_VIRTIO_FS or CONFIG_9P_FS, which this config leaves unset (%s): add configs/rootfs.config to its fragments, or its cells are refused before they boot", ca.name(), u.what, u.n.Value, why)
		}
	}
}

// ---- modules ------------------------------------------------------------

// warnModules warns of suites that need modules (modules:, or a
// requires.config entry =m) in cells whose kernel has none: a config
// known to leave CONFIG_MODULES unset (plannedOption), a prebuilt image
// given without modules:. It warns too of a requires.config that an
// image given without config: cannot meet.
func (l *loader) warnModules() {
	m := l.m
	for _, s := range m.Suites {
		sn := l.suiteNodes[s]
		if sn == nil {
			continue
		}
		needs, at := "", sn.modules
		switch mods := ModuleOptions(s.Requires.Config); {
		case len(s.Modules) > 0:
			needs = "loads modules"
		case len(mods) > 0:
			needs, at = fmt.Sprintf("requires %s=m", mods[0]), sn.reqConfig
		}
		if needs != "" {
			for _, ca := range m.configArches() {
				if ca.arch != "" && !ArchMeets(ca.arch, s.Requires.Arch) {
					continue
				}
				if v, why, known := plannedOption(ca.c, ca.arch, "CONFIG_MODULES"); known && v == "" {
					sn.f.warnAt(at, "suite %q %s, but %s leaves CONFIG_MODULES unset (%s): its kernels have no modules (add CONFIG_MODULES=y)", s.Name, needs, ca.name(), why)
				}
			}
		}
		for _, k := range m.Kernels {
			pb := k.Source.Prebuilt
			if pb == nil || pb.Image == "" {
				continue
			}
			if needs != "" && pb.Modules == "" {
				sn.f.warnAt(at, "suite %q %s, but kernel %q is an image given without modules: (give its lib/modules/RELEASE): it has no modules", s.Name, needs, k.Name)
			}
			if len(s.Requires.Config) > 0 && pb.Config == "" {
				sn.f.warnAt(sn.reqConfig, "suite %q has requires.config, but kernel %q is an image given without config: (give its .config): the suite is skipped in its cells", s.Name, k.Name)
			}
		}
	}
}
