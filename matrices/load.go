package matrices

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kvmtest/kvmtest/internal/arch"
)

// Field lists of every mapping in the language.
var (
	topFields      = []string{"name", "description", "arch", "include", "kernels", "patchsets", "configs", "suites", "vm", "exclude", "expect", "baseline"}
	kernelFields   = []string{"name", "description", "version", "arch", "source"}
	sourceFields   = []string{"tarball", "path", "git", "image", "modules", "config", "deb", "package"}
	sourceForms    = []string{"tarball", "path", "git", "image", "deb", "package"} // exactly one per source
	gitFields      = []string{"repo", "ref"}
	patchsetFields = []string{"name", "description", "series", "applies-to"}
	configFields   = []string{"name", "description", "base", "fragments", "arch-fragments", "options"}
	suiteFields    = []string{"name", "description", "go-test", "binary", "command", "kselftest", "args", "timeout", "format", "requires", "modules", "rootfs", "workdir", "files"}
	requiresFields = []string{"kernel", "config", "arch"}
	ksftFields     = []string{"dir", "tests", "extra"}
	fileFields     = []string{"src", "dst"}
	vmFields       = []string{"memory", "cpus", "accel", "boot-timeout", "silence-timeout", "cmdline", "qemu-args", "rootfs", "share-transport"}
	ruleFields     = []string{"kernel", "patchset", "config", "arch", "reason"}
	expectFields   = []string{"kernel", "patchset", "config", "arch", "suite", "test", "status", "reason"}
	baselineFields = []string{"patchset", "cell", "arch"}
)

// Defaults.
const (
	DefaultSuiteTimeout = 5 * time.Minute
	DefaultMemoryMiB    = 512
	DefaultCPUs         = 1
	DefaultAccel        = "auto"
	DefaultBootTimeout  = 60 * time.Second
	// DefaultSilenceTimeout ends a VM from which nothing came (console
	// bytes, agent events, its heartbeat included) for this long.
	DefaultSilenceTimeout = 30 * time.Second
)

// nameRE: names become parts of file names and of cell ids.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]*$`)

const maxNameLen = 64

// LoadOptions are the choices of a load.
type LoadOptions struct {
	// ReadMakefile reads a kernel source's top-level Makefile, for the
	// version of a kernel that gives none (always for a path source, for
	// the others when an applies-to or a requires.kernel needs it). Nil
	// means DefaultMakefileReader.
	ReadMakefile MakefileReader
	// CheckSource checks that tarballs are tarballs and that local git
	// repositories have their refs. Nil means DefaultSourceChecker.
	CheckSource *SourceChecker
	// Host is the machine the VMs run on: a vm.memory above its MemTotal
	// is an error, more vm.cpus than its CPUs a warning. Nil means
	// DefaultHost; &Host{} checks nothing (for a matrix loaded to read an
	// earlier run, on another machine).
	Host *Host
	// Guest is what the guest has besides the matrix's files, for the
	// check that suite programs can execute there. Nil means
	// DefaultGuest.
	Guest *Guest
}

// Load reads, strictly decodes, validates and resolves one matrix file
// (and its includes), reading undeclared versions with
// DefaultMakefileReader. On problems it returns a nil Matrix and an
// ErrorList holding every problem found.
func Load(path string) (*Matrix, error) {
	return LoadWith(path, LoadOptions{})
}

// LoadWith is Load with options.
func LoadWith(path string, o LoadOptions) (*Matrix, error) {
	l := newLoader()
	l.readMakefile = o.ReadMakefile
	l.sources, l.host, l.guest = DefaultSourceChecker, DefaultHost, DefaultGuest
	if o.CheckSource != nil {
		l.sources = *o.CheckSource
	}
	if o.Host != nil {
		l.host = *o.Host
	}
	if o.Guest != nil {
		l.guest = *o.Guest
	}
	m := l.load(path)
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	m.Warnings.Sort()
	return m, nil
}

// LoadFiles loads several matrix files. It returns the matrices that
// loaded cleanly, in order, and an ErrorList with all the problems of all
// the files (nil when there are none).
func LoadFiles(paths ...string) ([]*Matrix, error) {
	return LoadFilesWith(LoadOptions{}, paths...)
}

// LoadFilesWith is LoadFiles with options.
func LoadFilesWith(o LoadOptions, paths ...string) ([]*Matrix, error) {
	var all ErrorList
	var out []*Matrix
	for _, p := range paths {
		m, err := LoadWith(p, o)
		if err != nil {
			all = append(all, err.(ErrorList)...)
			continue
		}
		out = append(out, m)
	}
	return out, all.Err()
}

// loader holds the state of one Load.
type loader struct {
	errs   ErrorList
	seen   map[Error]bool
	work   int
	flat   map[*yaml.Node][]field // memoised flatten results
	loaded map[string]bool        // absolute paths of matrix files already read
	hash   hash.Hash
	m      *Matrix

	readMakefile MakefileReader // nil: DefaultMakefileReader
	sources      SourceChecker
	host         Host
	guest        Guest
	progs        []progRef  // suite programs, checked once every suite is read
	cpusNode     *yaml.Node // vm.cpus of the top file, for warnings
	rootfsNode   *yaml.Node // vm.rootfs, for warnings

	// registries for duplicate names, across included files
	names map[string]map[string]Position
	// an axis value or a rule could not be read: skip expansion checks
	broken bool
	// axes that lost an item (no usable name): do not also say "no kernels"
	dropped map[string]bool
	// axes given as an empty list, for finish to judge (configs)
	emptyAxis map[string]Position

	// what the cross checks need from the top file
	root        *yaml.Node
	top         *file
	axisKeys    map[string]*yaml.Node
	kernelSrc   map[*Kernel]*yaml.Node
	kernelForm  map[*Kernel]string // the source form read (tarball ... package), absent when none could be
	rules       []ruleRef
	expects     []ruleRef
	baselineObj *obj
	dsts        map[string]dstDef
	suiteNodes  map[*Suite]*suiteNodes

	// the architecture axis: the top-level arch: (nil when not given);
	// whether it could not be read (topArchBroken), or any arch list
	// could not (archBroken: the cells' architectures are not known, so
	// what depends on them is not judged); each kernel's arch:
	archNode      *yaml.Node
	topArchBroken bool
	archBroken    bool
	kernelArch    map[*Kernel]archRef
}

// archRef is a kernel's arch: list as written: its value and its items,
// or bad when it could not be read.
type archRef struct {
	f     *file
	n     *yaml.Node
	items []*yaml.Node
	bad   bool
}

// suiteNodes are the places of a suite's fields that warnings point at.
type suiteNodes struct {
	f         *file
	modules   *yaml.Node // modules:
	reqConfig *yaml.Node // requires.config
	reqArch   *yaml.Node // requires.arch
	rootfs    *yaml.Node // rootfs:
}

// suiteNodeOf returns the places of suite s (defined in f), to fill.
func (f *file) suiteNodeOf(s *Suite) *suiteNodes {
	sn := f.l.suiteNodes[s]
	if sn == nil {
		sn = &suiteNodes{f: f}
		f.l.suiteNodes[s] = sn
	}
	return sn
}

type ruleRef struct {
	f     *file
	n     *yaml.Node
	what  string
	nodes map[string]*yaml.Node // field -> value node
}

type dstDef struct {
	src   string
	suite string
}

func newLoader() *loader {
	return &loader{
		seen:       map[Error]bool{},
		flat:       map[*yaml.Node][]field{},
		loaded:     map[string]bool{},
		hash:       sha256.New(),
		names:      map[string]map[string]Position{},
		dropped:    map[string]bool{},
		emptyAxis:  map[string]Position{},
		axisKeys:   map[string]*yaml.Node{},
		kernelSrc:  map[*Kernel]*yaml.Node{},
		kernelForm: map[*Kernel]string{},
		dsts:       map[string]dstDef{},
		suiteNodes: map[*Suite]*suiteNodes{},
		kernelArch: map[*Kernel]archRef{},
	}
}

func (l *loader) add(file string, line, col int, msg string) {
	e := Error{File: file, Line: line, Col: col, Msg: msg}
	if l.seen[e] {
		return
	}
	l.seen[e] = true
	l.errs = append(l.errs, &e)
}

func (l *loader) load(p string) (m *Matrix) {
	abs, err := filepath.Abs(p)
	if err != nil {
		l.add(p, 1, 1, fmt.Sprintf("cannot read matrix: %v", err))
		return nil
	}
	m = &Matrix{File: abs}
	l.m = m
	f := &file{l: l, disp: p, abs: abs, dir: filepath.Dir(abs), chain: []string{p}, absChain: []string{abs}, top: true}
	l.top = f
	defer func() {
		if r := recover(); r != nil {
			if r != errBudget {
				panic(r)
			}
			l.add(f.disp, 1, 1, fmt.Sprintf("the document expands too much through aliases and merge keys (more than %d nodes)", maxWork))
		}
		m.Digest = hex.EncodeToString(l.hash.Sum(nil))
	}()
	data, err := readMatrix(abs)
	if err != nil {
		l.add(p, 1, 1, fmt.Sprintf("cannot read matrix: %v", trimPathErr(err)))
		return m
	}
	l.loaded[abs] = true
	l.hash.Write(data)
	m.Files = append(m.Files, abs)
	root := f.parseYAML(data)
	if root == nil {
		return m
	}
	l.root = root
	if f.parseMatrix(root) {
		l.finish()
	}
	return m
}

func readMatrix(abs string) ([]byte, error) {
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", filepath.Base(abs))
	}
	if fi.Size() > maxMatrixSize {
		// Read only the first bytes: parseYAML reports the size.
		fh, err := os.Open(abs)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		buf := make([]byte, maxMatrixSize+1)
		n, _ := fh.Read(buf)
		return buf[:n], nil
	}
	return os.ReadFile(abs)
}

func trimPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// path makes a matrix-relative path absolute.
func (f *file) path(s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	return filepath.Join(f.dir, s)
}

// parseMatrix walks the top-level mapping of a matrix file (the loaded
// file or an included one).
func (f *file) parseMatrix(root *yaml.Node) bool {
	l := f.l
	o := f.object(root, "matrix", topFields)
	if o == nil {
		l.broken = true
		return false
	}
	if f.top {
		for _, k := range []string{"kernels", "patchsets", "configs", "suites", "exclude", "include"} {
			if o.has(k) {
				l.axisKeys[k] = o.keyNode(k)
			}
		}
	} else {
		for _, k := range []string{"arch", "vm", "exclude", "expect", "baseline"} {
			if o.has(k) {
				f.errAt(o.keyNode(k), "field %q has no effect in an included file: only kernels, patchsets, configs and suites are merged from %s (move it to %s)", k, f.disp, f.chain[0])
			}
		}
	}

	// name
	if f.top {
		if s, n, ok := o.nonEmpty("name"); ok {
			if f.checkName(n, "matrix", s) {
				l.m.Name = s
			}
		} else if !o.has("name") {
			base := strings.TrimSuffix(filepath.Base(f.abs), filepath.Ext(f.abs))
			if nameRE.MatchString(base) && len(base) <= maxNameLen {
				l.m.Name = base
			} else {
				f.errAt(root, "no name: field, and the file name %q cannot serve as one (use letters, digits and . _ + -); add name:", base)
			}
		}
		if s, _, ok := o.str("description"); ok {
			l.m.Description = s
		}
		// arch: before include, so that every kernel's is judged
		// against it (in finish).
		l.m.Arches = []string{arch.Default}
		if o.has("arch") {
			l.archNode = o.val("arch")
			l.m.archPos = f.pos(l.archNode)
			if names, _, ok := f.archNames(o, "arch", "arch"); ok {
				l.m.Arches = names
			} else {
				l.topArchBroken, l.archBroken, l.broken = true, true, true
			}
		}
	} else {
		o.str("name")
		o.str("description")
	}

	// include: matrix files (strings) and include rules (mappings)
	if items, ok := o.list("include"); ok {
		for _, it := range items {
			r := f.resolve(it)
			switch {
			case r == nil:
			case isStringy(r):
				f.include(r)
			case r.Kind == yaml.MappingNode:
				if !f.top {
					f.errAt(r, "include rules have no effect in an included file (move them to %s)", f.chain[0])
					continue
				}
				if rule, ok := f.parseRule(r, "include rule"); ok {
					l.m.Include = append(l.m.Include, rule)
				}
			default:
				f.errAt(r, "an include item is a matrix file name or a rule mapping {kernel, patchset, config, arch}, found %s", describe(r))
			}
		}
	}

	parseAxis(f, o, "kernels", "kernels is empty: a matrix needs at least one kernel", f.parseKernel, &l.m.Kernels)
	parseAxis(f, o, "patchsets", "patchsets is empty: a matrix needs at least one patchset (one without series: is the unpatched kernel)", f.parsePatchset, &l.m.Patchsets)
	parseAxis(f, o, "configs", "", f.parseConfig, &l.m.Configs) // empty: judged by finish (prebuilt kernels need none)
	if items, ok := o.list("suites"); ok {
		for _, it := range items {
			if s := f.parseSuite(it); s != nil {
				l.m.Suites = append(l.m.Suites, s)
			}
		}
	}

	if !f.top {
		return true
	}
	l.m.VM = VM{MemoryMiB: DefaultMemoryMiB, CPUs: DefaultCPUs, Accel: DefaultAccel, BootTimeout: DefaultBootTimeout, SilenceTimeout: DefaultSilenceTimeout,
		Rootfs: RootfsInitramfs, ShareTransport: "auto"}
	if o.has("vm") {
		f.parseVM(o.fields["vm"].val)
	}
	if items, ok := o.list("exclude"); ok {
		for _, it := range items {
			if rule, ok := f.parseRule(it, "exclude rule"); ok {
				l.m.Exclude = append(l.m.Exclude, rule)
			}
		}
	}
	if items, ok := o.list("expect"); ok {
		for _, it := range items {
			if e := f.parseExpect(it); e != nil {
				l.m.Expect = append(l.m.Expect, e)
			}
		}
	}
	if o.has("baseline") {
		l.baselineObj = f.object(o.fields["baseline"].val, "baseline", baselineFields)
	}
	return true
}

// include loads another matrix file and merges its axes.
func (f *file) include(n *yaml.Node) {
	l := f.l
	rel := n.Value
	if strings.TrimSpace(rel) == "" {
		f.errAt(n, "empty include file name")
		return
	}
	abs := f.path(rel)
	disp := rel
	if !filepath.IsAbs(rel) {
		disp = filepath.Join(filepath.Dir(f.disp), rel)
	}
	for i, a := range f.absChain {
		if a == abs {
			cycle := append(append([]string{}, f.chain[i:]...), f.chain[i])
			f.errAt(n, "include cycle: %s", strings.Join(cycle, " -> "))
			return
		}
	}
	if l.loaded[abs] {
		return // included twice through different paths: once is enough
	}
	data, err := readMatrix(abs)
	if err != nil {
		f.errAt(n, "cannot include %q: %v", rel, trimPathErr(err))
		return
	}
	l.loaded[abs] = true
	l.hash.Write(data)
	l.m.Files = append(l.m.Files, abs)
	child := &file{
		l: l, disp: disp, abs: abs, dir: filepath.Dir(abs),
		chain:    append(append([]string{}, f.chain...), disp),
		absChain: append(append([]string{}, f.absChain...), abs),
	}
	root := child.parseYAML(data)
	if root == nil {
		l.broken = true
		return
	}
	child.parseMatrix(root)
}

// checkName reports a name that cannot serve as (part of) a file name.
func (f *file) checkName(n *yaml.Node, what, s string) bool {
	switch {
	case len(s) > maxNameLen:
		f.errAt(n, "%s name %q is too long (at most %d characters)", what, clip(s), maxNameLen)
	case strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-"):
		f.errAt(n, "%s name %q must not start with %q: names become file names and parts of cell ids", what, s, s[:1])
	case !nameRE.MatchString(s):
		f.errAt(n, "%s name %q is not usable as a file name: use only letters, digits and . _ + -", what, s)
	default:
		return true
	}
	return false
}

// itemName reads and registers the name of an axis item or suite.
func (f *file) itemName(o *obj, axis, what string) (string, Position, bool) {
	l := f.l
	s, n, ok := o.required("name")
	if !ok || !f.checkName(n, what, s) {
		l.dropped[axis] = true
		l.broken = true
		return "", Position{}, false
	}
	p := f.pos(n)
	reg := l.names[axis]
	if reg == nil {
		reg = map[string]Position{}
		l.names[axis] = reg
	}
	if prev, dup := reg[s]; dup {
		f.errAt(n, "duplicate %s name %q (first defined at %s)", what, s, prev)
		return "", p, false
	}
	reg[s] = p
	return s, p, true
}

func (f *file) parseKernel(n *yaml.Node) *Kernel {
	o := f.object(n, "kernel", kernelFields)
	if o == nil {
		f.l.broken = true
		f.l.dropped["kernels"] = true
		return nil
	}
	name, pos, ok := f.itemName(o, "kernels", "kernel")
	k := &Kernel{Name: name, Pos: pos}
	if s, _, ok := o.str("description"); ok {
		k.Description = s
	}
	if s, vn, ok := o.nonEmpty("version"); ok {
		if _, err := ParseKernelVersion(s); err != nil {
			f.errAt(vn, "bad kernel version: %v", err)
		} else {
			k.Version = s
		}
	}
	if o.has("arch") {
		// Judged against the matrix's arch: by resolveArches.
		if names, nodes, good := f.archNames(o, "arch", "kernel arch"); good {
			k.Arches = names
			f.l.kernelArch[k] = archRef{f: f, n: o.val("arch"), items: nodes}
		} else {
			f.l.kernelArch[k] = archRef{bad: true}
			f.l.archBroken, f.l.broken = true, true
		}
	}
	if !o.has("source") {
		o.missing("source")
	} else {
		f.parseSource(o.fields["source"].val, k)
	}
	if !ok {
		return nil
	}
	return k
}

// parseAxis parses the list of axis values under key with parse and
// appends the values it returns to *dst. An empty list is reported (with
// emptyMsg) and, like a key whose value is not a list, marks the axis as
// dropped, so that the matrix is not also said to have none; with no
// emptyMsg, its place is kept for finish to judge.
func parseAxis[T any](f *file, o *obj, key, emptyMsg string, parse func(*yaml.Node) *T, dst *[]*T) {
	items, ok := o.list(key)
	if !ok {
		if o.has(key) {
			f.l.dropped[key] = true
		}
		return
	}
	if len(items) == 0 && emptyMsg == "" {
		f.l.emptyAxis[key] = f.pos(o.val(key))
	} else if len(items) == 0 {
		f.errAt(o.val(key), "%s", emptyMsg)
		f.l.dropped[key] = true
	}
	for _, it := range items {
		if v := parse(it); v != nil {
			*dst = append(*dst, v)
		}
	}
}

func isRemote(repo string) bool {
	if strings.Contains(repo, "://") {
		return true
	}
	// scp-like: user@host:path or host:path (but not C:\ or ./a:b)
	if i := strings.IndexByte(repo, ':'); i > 0 && !strings.ContainsAny(repo[:i], "/\\") {
		return true
	}
	return false
}

func (f *file) parseSource(n *yaml.Node, k *Kernel) {
	o := f.object(n, "kernel source", sourceFields)
	if o == nil {
		return
	}
	f.l.kernelSrc[k] = o.n
	var set []string
	for _, s := range sourceForms {
		if o.has(s) {
			set = append(set, s)
		}
	}
	var extras []string // image's companions
	for _, s := range []string{"modules", "config"} {
		if o.has(s) {
			extras = append(extras, s)
		}
	}
	if len(set) != 1 {
		switch {
		case len(set) == 0 && len(extras) > 0:
			f.errAt(o.n, "kernel source has %s but no image: add image:, the prebuilt kernel image they belong to", strings.Join(extras, " and "))
		case len(set) == 0 && o.unknown > 0:
		case len(set) == 0:
			f.errAt(o.n, "kernel source needs one of tarball, path, git, image, deb or package")
		default:
			f.errAt(o.n, "kernel source must have exactly one of tarball, path, git, image, deb or package; found %s", strings.Join(set, " and "))
		}
		return
	}
	f.l.kernelForm[k] = set[0]
	if set[0] != "image" {
		why := "a kernel built from source has the modules of its build and the config of its cell"
		if set[0] == "deb" || set[0] == "package" {
			why = "a Debian package carries its own modules and config"
		}
		for _, e := range extras {
			f.errAt(o.keyNode(e), "field %q in kernel source goes only with image: (%s)", e, why)
		}
	}
	switch set[0] {
	case "tarball":
		s, sn, ok := o.nonEmpty("tarball")
		if !ok {
			return
		}
		p := f.path(s)
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			f.errAt(sn, "tarball %q not found", s)
		case fi.IsDir():
			f.errAt(sn, "tarball %q is a directory (use path: for a source tree)", s)
		default:
			if f.checkTarball(sn, s, p) {
				k.Source.Tarball = p
			}
		}
	case "path":
		s, sn, ok := o.nonEmpty("path")
		if !ok {
			return
		}
		p := f.path(s)
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			f.errAt(sn, "kernel tree %q not found", s)
		case !fi.IsDir():
			f.errAt(sn, "kernel tree %q is not a directory (use tarball: for an archive)", s)
		default:
			k.Source.Path = p
			if k.Version == "" {
				v, err := SourceVersion(k.Source, f.l.readMakefile)
				if err != nil {
					f.errAt(sn, "%q is not a kernel source tree: %v", s, trimPathErr(err))
					f.l.broken = true
				} else {
					k.Version = v
				}
			}
		}
	case "git":
		g := f.object(o.fields["git"].val, "git source", gitFields)
		if g == nil {
			return
		}
		repo, rn, ok1 := g.required("repo")
		ref, refn, ok2 := g.required("ref")
		if !ok1 || !ok2 {
			return
		}
		if !isRemote(repo) {
			p := f.path(repo)
			if fi, err := os.Stat(p); err != nil {
				f.errAt(rn, "git repository %q not found", repo)
				return
			} else if !fi.IsDir() {
				f.errAt(rn, "git repository %q is not a directory", repo)
				return
			}
			if !f.checkGit(rn, refn, repo, p, ref) {
				return
			}
			repo = p
		}
		k.Source.Git = &GitSource{Repo: repo, Ref: ref}
	default:
		// A prebuilt kernel: Prebuilt is set even when a value is
		// refused, so that its cells are judged as prebuilt ones.
		k.Source.Prebuilt = f.parsePrebuilt(o, set[0])
	}
}

// debPackageRE is a Debian package name (Debian Policy 5.6.1): lowercase
// letters, digits, + - and ., at least two, starting with a letter or a
// digit.
var debPackageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// parsePrebuilt reads the image, deb or package form of a kernel source.
func (f *file) parsePrebuilt(o *obj, form string) *PrebuiltSource {
	pb := &PrebuiltSource{}
	s, sn, ok := o.nonEmpty(form)
	switch form {
	case "image":
		pb.Image = "-" // a placeholder when refused (the load fails): still an image
		if ok {
			pb.Image = f.path(s)
			f.checkFile(sn, "kernel image", s, "a bzImage, such as arch/x86/boot/bzImage or /boot/vmlinuz-RELEASE")
		}
		if m, mn, ok := o.nonEmpty("modules"); ok {
			pb.Modules = f.path(m)
			f.checkModulesDir(mn, m, pb.Modules)
		}
		if c, cn, ok := o.nonEmpty("config"); ok {
			pb.Config = f.path(c)
			if f.checkFile(cn, "kernel config", c, "the .config the image was built with, such as /boot/config-RELEASE") {
				f.checkDotConfig(cn, c, pb.Config)
			}
		}
	case "deb":
		pb.Deb = "-"
		if ok {
			pb.Deb = f.path(s)
			if !strings.HasSuffix(s, ".deb") {
				f.errAt(sn, "deb %q does not end in .deb: give a Debian linux-image-*.deb file (image: for a kernel image)", s)
			} else if f.checkFile(sn, "deb", s, "a Debian linux-image-*.deb file") {
				f.checkDeb(sn, s, pb.Deb)
			}
		}
	case "package":
		pb.Package = "-"
		if ok {
			pb.Package = s
			if !debPackageRE.MatchString(s) {
				hint := "lowercase letters, digits, + - and ., at least two, starting with a letter or a digit"
				switch {
				case strings.ContainsAny(s, "=/_ :"):
					hint = "give the package's name only, such as linux-image-6.1.0-26-amd64"
				case debPackageRE.MatchString(strings.ToLower(s)):
					hint = fmt.Sprintf("package names are lowercase: %s", strings.ToLower(s))
				}
				f.errAt(sn, "package %q is not a Debian package name (%s)", clip(s), hint)
			}
		}
	}
	return pb
}

// checkFile reports a path that is not an existing file (what names it,
// want says what it should be); it returns whether it is one.
func (f *file) checkFile(n *yaml.Node, what, s, want string) bool {
	fi, err := os.Stat(f.path(s))
	switch {
	case err != nil:
		f.errAt(n, "%s %q not found", what, s)
	case fi.IsDir():
		f.errAt(n, "%s %q is a directory: give %s", what, s, want)
	case !fi.Mode().IsRegular():
		f.errAt(n, "%s %q is not a regular file: give %s", what, s, want)
	default:
		return true
	}
	return false
}

// checkModulesDir reports a modules: value that is not a kernel module
// directory, lib/modules/RELEASE as make modules_install writes it.
func (f *file) checkModulesDir(n *yaml.Node, s, p string) {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		f.errAt(n, "modules directory %q not found", s)
		return
	case !fi.IsDir():
		f.errAt(n, "modules %q is not a directory: give the image's module directory, lib/modules/RELEASE as make modules_install writes it", s)
		return
	}
	for _, e := range []string{"modules.dep", "modules.order", "kernel"} {
		if _, err := os.Stat(filepath.Join(p, e)); err == nil {
			return
		}
	}
	if ents, err := os.ReadDir(filepath.Join(p, "lib", "modules")); err == nil && len(ents) > 0 {
		f.errAt(n, "modules %q holds lib/modules/: give the release directory under it, such as %s", s, path.Join(s, "lib/modules", ents[0].Name()))
		return
	}
	f.errAt(n, "modules %q is not a kernel module directory (no modules.dep, modules.order or kernel/): give lib/modules/RELEASE as make modules_install writes it", s)
}

// checkDotConfig reports a config: file that is not a kernel .config.
func (f *file) checkDotConfig(n *yaml.Node, s, p string) {
	fh, err := os.Open(p)
	if err != nil {
		f.errAt(n, "kernel config %q: %v", s, trimPathErr(err))
		return
	}
	defer fh.Close()
	sc := bufio.NewScanner(io.LimitReader(fh, 8<<20))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if kconfigSetRE.MatchString(sc.Text()) {
			return
		}
	}
	f.errAt(n, "kernel config %q is not a kernel .config (no CONFIG_NAME=VALUE line)", s)
}

// checkDeb reports a deb: file that is not a Debian package (an ar
// archive).
func (f *file) checkDeb(n *yaml.Node, s, p string) {
	fh, err := os.Open(p)
	if err != nil {
		f.errAt(n, "deb %q: %v", s, trimPathErr(err))
		return
	}
	defer fh.Close()
	head := make([]byte, 8)
	k, _ := io.ReadFull(fh, head)
	if string(head[:k]) != "!<arch>\n" {
		f.errAt(n, "deb %q is not a Debian package (it is not an ar archive)", s)
	}
}

func (f *file) parsePatchset(n *yaml.Node) *Patchset {
	o := f.object(n, "patchset", patchsetFields)
	if o == nil {
		f.l.broken = true
		f.l.dropped["patchsets"] = true
		return nil
	}
	before := len(f.l.errs)
	defer func() {
		if len(f.l.errs) > before {
			f.l.broken = true // applies-to may be misspelt: do not judge the expansion
		}
	}()
	name, pos, ok := f.itemName(o, "patchsets", "patchset")
	p := &Patchset{Name: name, Pos: pos, Line: pos.Line}
	if s, _, ok := o.str("description"); ok {
		p.Description = s
	}
	if s, sn, ok := o.nonEmpty("series"); ok {
		p.Series, p.SeriesFormat = f.checkSeries(sn, s)
	}
	if s, cn, ok := o.nonEmpty("applies-to"); ok {
		if _, err := ParseConstraint(s); err != nil {
			f.errAt(cn, "bad applies-to constraint: %v", err)
			f.l.broken = true
		} else {
			p.AppliesTo = s
		}
	}
	if !ok {
		return nil
	}
	return p
}

// checkSeries validates a patch series and returns its absolute path and
// format.
func (f *file) checkSeries(n *yaml.Node, s string) (string, string) {
	p := f.path(s)
	fi, err := os.Stat(p)
	if err != nil {
		f.errAt(n, "series %q not found", s)
		return "", ""
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(p)
		if err != nil {
			f.errAt(n, "series directory %q: %v", s, trimPathErr(err))
			return "", ""
		}
		for _, e := range ents {
			nm := e.Name()
			if !e.IsDir() && !strings.HasPrefix(nm, ".") && (strings.HasSuffix(nm, ".patch") || strings.HasSuffix(nm, ".diff")) {
				return p, "dir"
			}
		}
		if _, err := os.Stat(filepath.Join(p, "series")); err == nil {
			return f.checkQuilt(n, s, filepath.Join(p, "series"))
		}
		f.errAt(n, "series directory %q holds no *.patch or *.diff file and no quilt series file", s)
		return "", ""
	}
	if filepath.Base(p) == "series" {
		return f.checkQuilt(n, s, p)
	}
	fh, err := os.Open(p)
	if err != nil {
		f.errAt(n, "series %q: %v", s, trimPathErr(err))
		return "", ""
	}
	defer fh.Close()
	head := make([]byte, 5)
	k, _ := fh.Read(head)
	if string(head[:k]) != "From " {
		f.errAt(n, "series %q is not an mbox (it does not start with \"From \"); a series is a directory of format-patch files, a quilt file named series, or an mbox", s)
		return "", ""
	}
	return p, "mbox"
}

// checkQuilt checks that every patch a quilt series file lists exists,
// reporting missing ones at their line in the series file.
func (f *file) checkQuilt(n *yaml.Node, s, seriesPath string) (string, string) {
	data, err := os.ReadFile(seriesPath)
	if err != nil {
		f.errAt(n, "series %q: %v", s, trimPathErr(err))
		return "", ""
	}
	disp := s
	if !filepath.IsAbs(s) {
		disp = filepath.Join(filepath.Dir(f.disp), s)
	}
	if seriesPath != f.path(s) {
		disp = filepath.Join(disp, "series")
	}
	ok := true
	count := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(t, '#'); i >= 0 {
			t = strings.TrimSpace(t[:i])
		}
		if t == "" {
			continue
		}
		name := strings.Fields(t)[0]
		count++
		if _, err := os.Stat(filepath.Join(filepath.Dir(seriesPath), name)); err != nil {
			col := strings.Index(sc.Text(), name) + 1
			f.l.add(disp, line, col, fmt.Sprintf("patch %q listed in the quilt series not found", name))
			ok = false
		}
	}
	if count == 0 {
		f.errAt(n, "quilt series %q lists no patch", s)
		return "", ""
	}
	if !ok {
		return "", ""
	}
	return seriesPath, "quilt"
}

var (
	kconfigSetRE   = regexp.MustCompile(`^CONFIG_[A-Za-z0-9_]+=(.*)$`)
	kconfigUnsetRE = regexp.MustCompile(`^# CONFIG_[A-Za-z0-9_]+ is not set$`)
	kconfigValueRE = regexp.MustCompile(`^([ymn]|-?[0-9]+|0[xX][0-9a-fA-F]+|"([^"\\]|\\.)*")$`)
)

// checkKconfigLine returns what is wrong with one fragment or options
// line, or "". Comments and blank lines are allowed only in fragments.
func checkKconfigLine(line string, inFragment bool) string {
	t := strings.TrimRight(line, " \t\r")
	if inFragment && (strings.TrimSpace(t) == "" || strings.HasPrefix(t, "#") && !kconfigUnsetLike(t)) {
		return ""
	}
	if kconfigUnsetRE.MatchString(t) {
		return ""
	}
	if m := kconfigSetRE.FindStringSubmatch(t); m != nil {
		if !kconfigValueRE.MatchString(m[1]) {
			return fmt.Sprintf("bad value %q: a kconfig value is y, m, n, a number or a double-quoted string", m[1])
		}
		return ""
	}
	if kconfigUnsetLike(t) {
		return "malformed \"is not set\" line: write \"# CONFIG_NAME is not set\""
	}
	if strings.HasPrefix(strings.TrimSpace(t), "CONFIG_") && !strings.Contains(t, "=") {
		return fmt.Sprintf("%q has no value: write %s=y", strings.TrimSpace(t), strings.TrimSpace(t))
	}
	return fmt.Sprintf("%q is not a kconfig line: expected CONFIG_NAME=VALUE or \"# CONFIG_NAME is not set\"", clip(strings.TrimSpace(t)))
}

func kconfigUnsetLike(t string) bool {
	return strings.HasPrefix(t, "#") && strings.Contains(t, "CONFIG_") && strings.HasSuffix(strings.TrimSpace(t), "not set")
}

func (f *file) parseConfig(n *yaml.Node) *Config {
	o := f.object(n, "config", configFields)
	if o == nil {
		f.l.broken = true
		f.l.dropped["configs"] = true
		return nil
	}
	name, pos, ok := f.itemName(o, "configs", "config")
	if ok && name == PrebuiltConfigName {
		f.errAt(o.fields["name"].val, "config name %q is reserved: it names the cells of prebuilt kernels, which take no config; rename this config", name)
		f.l.dropped["configs"] = true
		f.l.broken = true
		ok = false
	}
	c := &Config{Name: name, Pos: pos}
	if s, _, ok := o.str("description"); ok {
		c.Description = s
	}
	if s, bn, ok := o.required("base"); ok {
		if contains(BaseTargets, s) {
			c.Base = s
		} else if strings.ContainsAny(s, "/.") {
			p := f.path(s)
			if fi, err := os.Stat(p); err != nil {
				f.errAt(bn, "base config file %q not found", s)
			} else if fi.IsDir() {
				f.errAt(bn, "base config file %q is a directory", s)
			} else {
				c.Base = p
			}
		} else {
			msg := fmt.Sprintf("base %q is not one of %s, and not a config file (write ./%s for a file here)", s, quoteList(BaseTargets), s)
			if h := nearest(s, BaseTargets); h != "" {
				msg += fmt.Sprintf("; did you mean %q?", h)
			}
			f.errAt(bn, "%s", msg)
		}
	}
	if frags, nodes, _ := o.strList("fragments"); frags != nil {
		for i, s := range frags {
			if p, ok := f.checkFragment(nodes[i], s); ok {
				c.Fragments = append(c.Fragments, p)
			}
		}
	}
	if o.has("arch-fragments") {
		c.ArchFragments = f.parseArchFragments(o.val("arch-fragments"))
	}
	if opts, nodes, _ := o.strList("options"); opts != nil {
		for i, s := range opts {
			if msg := checkKconfigLine(s, false); msg != "" {
				f.errAt(nodes[i], "option: %s", msg)
				continue
			}
			c.Options = append(c.Options, strings.TrimSpace(s))
		}
	}
	if !ok {
		return nil
	}
	return c
}

// parseArchFragments reads a config's arch-fragments: a mapping from
// architectures (kvmtest's names; one the matrix does not build is
// allowed, and unused, so that a config shared by include serves any
// matrix) to lists of fragments, each checked as fragments' are.
func (f *file) parseArchFragments(n *yaml.Node) map[string][]string {
	o, keys := f.mapping(n, "arch-fragments")
	if o == nil {
		return nil
	}
	var out map[string][]string
	for _, k := range keys {
		if !f.checkArchName(k.keyNode, "arch-fragments", k.key) {
			continue
		}
		frags, nodes, _ := o.strList(k.key)
		for i, s := range frags {
			if p, ok := f.checkFragment(nodes[i], s); ok {
				if out == nil {
					out = map[string][]string{}
				}
				out[k.key] = append(out[k.key], p)
			}
		}
	}
	return out
}

// archNames reads field key of o, a list of architectures: each must be
// kvmtest's name of one (internal/arch), listed once, and the list must
// not be empty. what names the field in messages (arch, kernel arch,
// requires.arch). It returns the names and their nodes, and whether the
// whole list was good.
func (f *file) archNames(o *obj, key, what string) ([]string, []*yaml.Node, bool) {
	vals, nodes, ok := o.strList(key)
	if !ok {
		return nil, nil, false
	}
	if len(vals) == 0 {
		f.errAt(o.val(key), "%s is empty: name at least one architecture (kvmtest knows %s)", what, strings.Join(arch.Names(), ", "))
		return nil, nil, false
	}
	seen := map[string]bool{}
	for i, v := range vals {
		switch {
		case !f.checkArchName(nodes[i], what, v):
			ok = false
		case seen[v]:
			f.errAt(nodes[i], "%s: architecture %q is listed twice", what, v)
			ok = false
		}
		seen[v] = true
	}
	return vals, nodes, ok
}

// checkArchName reports a name that is not kvmtest's name of an
// architecture: another name of one (aarch64, amd64: "write arm64"), or
// one internal/arch does not know, listing the choices.
func (f *file) checkArchName(n *yaml.Node, what, name string) bool {
	if a, ok := arch.ByName(name); ok && a.Name == name {
		return true
	} else if ok {
		f.errAt(n, "%s: %q is not kvmtest's name of the architecture: write %s (kvmtest knows %s)", what, name, a.Name, strings.Join(arch.Names(), ", "))
		return false
	}
	msg := fmt.Sprintf("%s: %v", what, arch.UnknownError(name))
	if h := nearest(name, arch.Names()); h != "" {
		msg += fmt.Sprintf("; did you mean %q?", h)
	}
	f.errAt(n, "%s", msg)
	return false
}

// checkFragment checks that a fragment exists and holds only kconfig
// lines, reporting bad lines at their place in the fragment.
func (f *file) checkFragment(n *yaml.Node, s string) (string, bool) {
	if strings.TrimSpace(s) == "" {
		f.errAt(n, "empty fragment file name")
		return "", false
	}
	p := f.path(s)
	fi, err := os.Stat(p)
	if err != nil {
		f.errAt(n, "fragment %q not found", s)
		return "", false
	}
	if fi.IsDir() {
		f.errAt(n, "fragment %q is a directory", s)
		return "", false
	}
	if fi.Size() > maxFragmentSize {
		f.errAt(n, "fragment %q is too large (%d bytes; at most %d)", s, fi.Size(), maxFragmentSize)
		return "", false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		f.errAt(n, "fragment %q: %v", s, trimPathErr(err))
		return "", false
	}
	disp := s
	if !filepath.IsAbs(s) {
		disp = filepath.Join(filepath.Dir(f.disp), s)
	}
	if off, bad := binaryAt(data); bad {
		line, col := lineCol(data, off)
		f.l.add(disp, line, col, fmt.Sprintf("binary data (byte 0x%02x): a config fragment is a text file of CONFIG_ lines", data[off]))
		return "", false
	}
	ok := true
	for i, line := range strings.Split(string(data), "\n") {
		if msg := checkKconfigLine(line, true); msg != "" {
			col := len(line) - len(strings.TrimLeft(line, " \t")) + 1
			f.l.add(disp, i+1, col, msg)
			ok = false
		}
	}
	return p, ok
}

var requireConfigRE = regexp.MustCompile(`^CONFIG_[A-Za-z0-9_]+(=\S.*)?$`)

func (f *file) parseSuite(n *yaml.Node) *Suite {
	o := f.object(n, "suite", suiteFields)
	if o == nil {
		return nil
	}
	name, pos, ok := f.itemName(o, "suites", "suite")
	s := &Suite{Name: name, Pos: pos, Timeout: DefaultSuiteTimeout}
	if d, _, ok := o.str("description"); ok {
		s.Description = d
	}
	var kinds []string
	for _, k := range []string{"go-test", "binary", "command", "kselftest"} {
		if o.has(k) {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		if o.unknown == 0 {
			f.errAt(o.n, "suite needs one of go-test, binary, command or kselftest")
		}
	case 1:
	default:
		f.errAt(o.n, "suite must have exactly one of go-test, binary, command or kselftest; found %s", strings.Join(kinds, " and "))
	}
	if v, vn, ok := o.nonEmpty("go-test"); ok && len(kinds) == 1 {
		p := f.path(v)
		if fi, err := os.Stat(p); err != nil {
			f.errAt(vn, "go-test package directory %q not found", v)
		} else if !fi.IsDir() {
			f.errAt(vn, "go-test %q is not a directory (a Go test package)", v)
		} else if m, _ := filepath.Glob(filepath.Join(p, "*_test.go")); len(m) == 0 {
			f.errAt(vn, "go-test directory %q holds no *_test.go file", v)
		} else {
			s.GoTest = p
		}
	}
	if v, vn, ok := o.nonEmpty("binary"); ok && len(kinds) == 1 {
		p := f.path(v)
		if fi, err := os.Stat(p); err != nil {
			f.errAt(vn, "binary %q not found", v)
		} else if fi.IsDir() {
			f.errAt(vn, "binary %q is a directory", v)
		} else if fi.Mode()&0o111 == 0 {
			f.errAt(vn, "binary %q is not executable", v)
		} else {
			s.Binary = p
			f.l.progs = append(f.l.progs, progRef{f: f, n: vn, s: s, what: fmt.Sprintf("binary %q", v), host: p})
		}
	}
	if o.has("command") {
		argv, nodes, good := o.strList("command")
		if good && len(argv) == 0 {
			f.errAt(o.val("command"), "field \"command\" in suite is empty: give the program's argv, such as [/usr/bin/prog, -v]")
		} else if good && strings.TrimSpace(argv[0]) == "" {
			f.errAt(nodes[0], "field \"command\" in suite starts with an empty program name")
		} else if good && len(kinds) == 1 {
			s.Command = argv
			f.l.progs = append(f.l.progs, progRef{f: f, n: nodes[0], s: s, what: fmt.Sprintf("program %q of command", argv[0])})
		}
	}
	if o.has("kselftest") {
		if ks := f.parseKselftest(o.val("kselftest")); ks != nil && len(kinds) == 1 {
			s.Kselftest = ks
		}
	}
	if args, an, _ := o.strList("args"); args != nil {
		if o.has("kselftest") {
			f.errAt(an[0], "a kselftest suite takes no args: its programs run as the kernel's run_kselftest.sh runs them")
		}
		s.Args = args
	}
	if d, _, ok := o.duration("timeout"); ok {
		s.Timeout = d
	}
	if s.GoTest != "" || o.has("go-test") {
		s.Format = "go"
	} else {
		s.Format = "exit-code"
	}
	if o.has("kselftest") {
		s.Format = "ktap"
	}
	if v, vn, ok := o.enum("format", Formats); ok {
		if o.has("kselftest") && v != "ktap" {
			f.errAt(vn, "a kselftest suite reports KTAP: format must be ktap or left out")
		}
		s.Format = v
	}
	if o.has("requires") {
		if r := f.object(o.fields["requires"].val, "requires", requiresFields); r != nil {
			if r.has("config") {
				f.suiteNodeOf(s).reqConfig = r.val("config")
			}
			if r.has("arch") {
				if names, _, good := f.archNames(r, "arch", "requires.arch"); good {
					s.Requires.Arch = names
					f.suiteNodeOf(s).reqArch = r.val("arch")
				} else {
					f.l.archBroken = true
				}
			}
			if v, vn, ok := r.nonEmpty("kernel"); ok {
				if _, err := ParseConstraint(v); err != nil {
					f.errAt(vn, "bad requires.kernel constraint: %v", err)
				} else {
					s.Requires.Kernel = v
				}
			}
			if opts, nodes, _ := r.strList("config"); opts != nil {
				for i, v := range opts {
					v = strings.TrimSpace(v)
					if !requireConfigRE.MatchString(v) {
						hint := ""
						if up := strings.ToUpper(v); strings.HasPrefix(up, "CONFIG_") && requireConfigRE.MatchString(up) {
							hint = fmt.Sprintf(" (write %s)", up)
						} else if requireConfigRE.MatchString("CONFIG_" + v) {
							hint = fmt.Sprintf(" (write CONFIG_%s)", v)
						}
						f.errAt(nodes[i], "requires.config entry %q is not CONFIG_NAME or CONFIG_NAME=VALUE%s", v, hint)
						continue
					}
					s.Requires.Config = append(s.Requires.Config, v)
				}
			}
		}
	}
	if v, vn, ok := o.nonEmpty("rootfs"); ok {
		if r, ok := f.rootfs("suite", v, vn); ok {
			s.Rootfs = r
			f.suiteNodeOf(s).rootfs = vn
		}
	}
	if v, vn, ok := o.nonEmpty("workdir"); ok {
		if f.checkWorkdir(vn, v) {
			s.Workdir = v
		}
	}
	if mods, nodes, _ := o.strList("modules"); mods != nil {
		s.Modules = f.moduleNames(mods, nodes)
		f.suiteNodeOf(s).modules = o.val("modules")
	}
	if items, ok := o.list("files"); ok {
		for _, it := range items {
			fo := f.object(it, "files entry", fileFields)
			if fo == nil {
				continue
			}
			src, sn, ok1 := fo.required("src")
			dst, dn, ok2 := fo.required("dst")
			var fl File
			if ok1 {
				p := f.path(src)
				if msg := checkFilesSrc(p); msg != "" {
					f.errAt(sn, "file %q %s", src, msg)
					ok1 = false
				}
				fl.Src = p
			}
			if ok2 {
				switch {
				case !path.IsAbs(dst):
					f.errAt(dn, "dst %q must be an absolute guest path such as /opt/%s", dst, path.Base(dst))
					ok2 = false
				case path.Clean(dst) != dst || dst == "/":
					f.errAt(dn, "dst %q is not a clean file path (write %q)", dst, path.Clean(dst))
					ok2 = false
				case dst == "/init":
					f.errAt(dn, "dst /init is the kvmtest guest agent")
					ok2 = false
				case hiddenDst(dst, s.GuestWorkdir()) != "":
					or := ""
					if w := s.GuestWorkdir(); w != "/" {
						or = ", or under the suite's workdir " + w
					}
					f.errAt(dn, "dst %q is under %s, which the guest agent mounts a fresh file system on before any suite runs: the file would be hidden; copy it elsewhere, such as /opt/%s%s", dst, hiddenDst(dst, s.GuestWorkdir()), path.Base(dst), or)
					ok2 = false
				case dst == s.GuestWorkdir() && ok1 && !isDir(fl.Src):
					f.errAt(dn, "dst %q is the suite's workdir: only a directory can be copied there (its contents become the workdir's)", dst)
					ok2 = false
				}
				fl.Dst = dst
			}
			if ok1 && ok2 {
				if prev, dup := f.l.dsts[dst]; dup && prev.src != fl.Src {
					f.errAt(dn, "dst %q is already copied from another file by suite %q: one boot runs every suite, so their files share one initramfs", dst, prev.suite)
				} else {
					f.l.dsts[dst] = dstDef{src: fl.Src, suite: name}
					s.Files = append(s.Files, fl)
				}
			}
		}
	}
	if !ok {
		return nil
	}
	return s
}

// moduleNameRE is a kernel module's name as modprobe takes it.
var moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// maxModuleName is the longest module name: MODULE_NAME_LEN (64 less a
// pointer) less the terminating NUL.
const maxModuleName = 55

// moduleNames checks the names of a suite's modules: list.
func (f *file) moduleNames(mods []string, nodes []*yaml.Node) []string {
	var out []string
	seen := map[string]bool{}
	for i, v := range mods {
		base := v
		for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
			if b, ok := strings.CutSuffix(path.Base(v), ext); ok && b != "" {
				base = b
			}
		}
		key := strings.ReplaceAll(v, "-", "_") // modprobe reads - and _ alike
		switch {
		case base != v && moduleNameRE.MatchString(base):
			f.errAt(nodes[i], "modules entry %q is a file: give the module's name, %s", v, base)
		case !moduleNameRE.MatchString(v):
			f.errAt(nodes[i], "modules entry %q is not a module name (letters, digits, _ and -, such as lkdtm or virtio_net)", clip(v))
		case len(v) > maxModuleName:
			f.errAt(nodes[i], "modules entry %q is too long for a module name (at most %d characters)", clip(v), maxModuleName)
		case seen[key]:
			f.errAt(nodes[i], "module %q is listed twice (modprobe reads - and _ alike)", v)
		default:
			seen[key] = true
			out = append(out, v)
		}
	}
	return out
}

// ksftName matches a kselftest directory or program name.
var ksftName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)

func (f *file) parseKselftest(n *yaml.Node) *Kselftest {
	o := f.object(n, "kselftest", ksftFields)
	if o == nil {
		return nil
	}
	ks := &Kselftest{}
	ok := true
	if d, dn, good := o.required("dir"); good {
		parts := strings.Split(d, "/")
		for _, p := range parts {
			if !ksftName.MatchString(p) {
				f.errAt(dn, "kselftest dir %q is not a directory under tools/testing/selftests such as mm or net/forwarding", d)
				ok = false
				break
			}
		}
		ks.Dir = d
	} else {
		ok = false
	}
	seen := map[string]bool{}
	names := func(key string) []string {
		vals, nodes, good := o.strList(key)
		if !good {
			ok = false
			return nil
		}
		for i, v := range vals {
			switch {
			case !ksftName.MatchString(v):
				f.errAt(nodes[i], "kselftest %s entry %q is not a program name in the kselftest dir (such as cow or short_splice_read.sh)", key, v)
				ok = false
			case seen[v]:
				f.errAt(nodes[i], "kselftest %s entry %q is listed twice", key, v)
				ok = false
			}
			seen[v] = true
		}
		return vals
	}
	if !o.has("tests") {
		o.missing("tests")
		ok = false
	} else if ks.Tests = names("tests"); ok && len(ks.Tests) == 0 {
		f.errAt(o.val("tests"), "kselftest tests is empty: name the programs to run, such as [cow]")
		ok = false
	}
	if o.has("extra") {
		ks.Extra = names("extra")
	}
	if !ok {
		return nil
	}
	return ks
}

func (f *file) parseVM(n *yaml.Node) {
	o := f.object(n, "vm", vmFields)
	if o == nil {
		return
	}
	vm := &f.l.m.VM
	var memN, cpusN *yaml.Node
	if v, mn, ok := o.sizeMiB("memory"); ok {
		vm.MemoryMiB, memN = v, mn
	}
	if v, vn, ok := o.integer("cpus"); ok {
		if v < 1 || v > 64 {
			f.errAt(vn, "field \"cpus\" in vm must be between 1 and 64, found %d", v)
		} else {
			vm.CPUs, cpusN = v, vn
			f.l.cpusNode = vn
		}
	}
	f.checkHostVM(memN, cpusN, *vm)
	if v, _, ok := o.enum("accel", Accels); ok {
		vm.Accel = v
	}
	if v, _, ok := o.duration("boot-timeout"); ok {
		vm.BootTimeout = v
	}
	if v, _, ok := o.duration("silence-timeout"); ok {
		vm.SilenceTimeout = v
	}
	if words, nodes, _ := o.strList("cmdline"); words != nil {
		for i, w := range words {
			if w == "" || strings.ContainsAny(w, " \t\n") {
				f.errAt(nodes[i], "kernel command line word %q is empty or contains whitespace: give one word per list item", w)
				continue
			}
			vm.Cmdline = append(vm.Cmdline, w)
		}
	}
	if args, _, _ := o.strList("qemu-args"); args != nil {
		vm.QEMUArgs = args
	}
	if v, vn, ok := o.nonEmpty("rootfs"); ok {
		var ok bool
		if vm.Rootfs, ok = f.rootfs("vm", v, vn); ok {
			f.l.rootfsNode = vn
		}
	}
	if v, _, ok := o.enum("share-transport", ShareTransports); ok {
		vm.ShareTransport = v
	}
}

// rootfs checks a rootfs value of what (vm, suite) with ResolveRootfs,
// relative to the matrix file, and returns the value kept and whether it
// was accepted.
func (f *file) rootfs(what, v string, n *yaml.Node) (string, bool) {
	r, err := ResolveRootfs(v, f.path)
	if err != nil {
		f.errAt(n, "%s %v", what, err)
		return r, false
	}
	return r, true
}

// ResolveRootfs checks a rootfs value (vm.rootfs, a suite's rootfs, boot
// --rootfs):
// initramfs, host, or a directory that exists, made absolute by abs (the
// matrix's directory, or the working directory). It returns the value a
// VM keeps.
func ResolveRootfs(v string, abs func(string) string) (string, error) {
	if v == RootfsInitramfs || v == RootfsHost {
		return v, nil
	}
	p := abs(v)
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return p, fmt.Errorf("rootfs %q not found: give initramfs, host, or a directory (a root file system, such as one made by debootstrap)", v)
	case !fi.IsDir():
		return p, fmt.Errorf("rootfs %q is not a directory: give initramfs, host, or a root file system directory", v)
	}
	return p, nil
}

func (f *file) parseRule(n *yaml.Node, what string) (Rule, bool) {
	before := len(f.l.errs)
	o := f.object(n, what, ruleFields)
	if o == nil {
		f.l.broken = true
		return Rule{}, false
	}
	ref := ruleRef{f: f, n: o.n, what: what, nodes: map[string]*yaml.Node{}}
	var r Rule
	r.Pos = f.pos(o.n)
	ok := true
	for _, k := range []string{"kernel", "patchset", "config", "arch"} {
		if !o.has(k) {
			continue
		}
		s, sn, good := o.nonEmpty(k)
		if !good {
			ok = false
			continue
		}
		ref.nodes[k] = sn
		switch k {
		case "kernel":
			r.Kernel = s
		case "patchset":
			r.Patchset = s
		case "config":
			r.Config = s
		case "arch":
			r.Arch = s
		}
	}
	if s, _, good := o.str("reason"); good {
		r.Reason = s
	}
	if ok && len(ref.nodes) == 0 && o.unknown == 0 {
		f.errAt(o.n, "%s names no kernel, patchset, config or arch: it would select every cell", what)
		ok = false
	}
	if !ok || len(f.l.errs) > before {
		f.l.broken = true
		return r, false
	}
	f.l.rules = append(f.l.rules, ref)
	return r, true
}

func (f *file) parseExpect(n *yaml.Node) *Expectation {
	o := f.object(n, "expectation", expectFields)
	if o == nil {
		return nil
	}
	e := &Expectation{Pos: f.pos(o.n)}
	ref := ruleRef{f: f, n: o.n, what: "expectation", nodes: map[string]*yaml.Node{}}
	ok := true
	for _, k := range []string{"kernel", "patchset", "config", "arch", "suite", "test"} {
		if !o.has(k) {
			continue
		}
		s, sn, good := o.nonEmpty(k)
		if !good {
			ok = false
			continue
		}
		ref.nodes[k] = sn
		switch k {
		case "kernel":
			e.Kernel = s
		case "patchset":
			e.Patchset = s
		case "config":
			e.Config = s
		case "arch":
			e.Arch = s
		case "suite":
			e.Suite = s
		case "test":
			e.Test = s
		}
	}
	if !o.has("status") {
		o.missing("status")
		ok = false
	} else if s, _, good := o.enum("status", Statuses); good {
		e.Status = s
	} else {
		ok = false
	}
	if s, _, good := o.str("reason"); good {
		e.Reason = s
	}
	if !o.has("suite") && !o.has("test") && o.unknown == 0 {
		f.errAt(o.n, "expectation needs a suite or a test")
		ok = false
	}
	if !ok {
		return nil
	}
	f.l.expects = append(f.l.expects, ref)
	return e
}

// finish runs the checks that need the whole matrix: axes present,
// versions, references, baseline, and the expansion.
func (l *loader) finish() {
	m, f := l.m, l.top
	if m == nil || f == nil || l.root == nil {
		return
	}
	for _, axis := range []struct {
		key, msg string
		n        int
	}{
		{"kernels", "no kernels: a matrix needs at least one kernel", len(m.Kernels)},
		{"patchsets", "no patchsets: a matrix needs at least one patchset (one without series: is the unpatched kernel)", len(m.Patchsets)},
	} {
		if axis.n == 0 {
			l.broken = true
			if !l.dropped[axis.key] {
				at := l.root
				if k := l.axisKeys[axis.key]; k != nil {
					at = k
				}
				f.errAt(at, "%s", axis.msg)
			}
		}
	}

	l.checkConfigsAxis()
	l.resolveArches()

	// Versions: read from the source only when something needs them.
	for _, k := range m.Kernels {
		if k.Version != "" || k.Source.Kind() == "" || k.Source.Kind() == "path" {
			continue // a path source's version was read (or reported) already
		}
		by := l.versionNeed(k)
		if by == "" {
			continue
		}
		if _, err := k.ResolveVersion(l.readMakefile); err != nil {
			src := l.kernelSrc[k]
			fk := l.fileOf(k.Pos)
			fk.errAt(src, "cannot read the version of kernel %q (needed by %s): %v; add version:", k.Name, by, err)
			l.broken = true
		}
	}

	// Suite programs the guest must execute, and vCPUs kernels cannot use.
	l.checkPrograms()
	l.warnRequiresArch()
	l.warnCPUs()
	l.checkSharedRoot()
	l.warnRootfs()
	l.warnModules()

	// References in rules and expectations.
	axes := map[string][]string{}
	for _, k := range m.Kernels {
		axes["kernel"] = append(axes["kernel"], k.Name)
	}
	for _, p := range m.Patchsets {
		axes["patchset"] = append(axes["patchset"], p.Name)
	}
	for _, c := range m.Configs {
		axes["config"] = append(axes["config"], c.Name)
	}
	if m.hasPrebuilt() {
		axes["config"] = append(axes["config"], PrebuiltConfigName)
	}
	for _, s := range m.Suites {
		axes["suite"] = append(axes["suite"], s.Name)
	}
	axes["arch"] = m.Arches
	for _, r := range append(append([]ruleRef{}, l.rules...), l.expects...) {
		for _, k := range []string{"kernel", "patchset", "config", "arch", "suite"} {
			n := r.nodes[k]
			if n == nil || k == "arch" && l.topArchBroken {
				continue
			}
			if !l.refOK(r.f, n, r.what, k, n.Value, axes[k]) && k != "suite" {
				l.broken = true
			}
		}
	}

	// Baseline.
	if o := l.baselineObj; o != nil {
		ps, pn, okp := o.nonEmpty("patchset")
		cs, cn, okc := o.nonEmpty("cell")
		if as, an, oka := o.nonEmpty("arch"); oka {
			switch {
			case o.has("cell"):
				f.errAt(an, "baseline arch goes with a patchset: a cell's id names its architecture already")
			case !o.has("patchset"):
				f.errAt(an, "baseline arch needs a patchset: each cell is compared with that patchset's cell of the same kernel and config on this architecture")
			case !l.topArchBroken && l.refOK(f, an, "baseline", "arch", as, axes["arch"]):
				if isGlob(as) {
					f.errAt(an, "baseline arch must be one name, not a pattern")
				} else {
					m.Baseline.Arch = as
				}
			}
		}
		switch {
		case o.has("patchset") && o.has("cell"):
			f.errAt(o.n, "baseline names a patchset or a cell, not both")
		case okp:
			if l.refOK(f, pn, "baseline", "patchset", ps, axes["patchset"]) {
				if isGlob(ps) {
					f.errAt(pn, "baseline patchset must be one name, not a pattern")
				} else {
					m.Baseline.Patchset = ps
				}
			}
		case okc:
			m.Baseline.Cell = cs
			defer func() {
				if l.broken {
					return
				}
				if _, ok := m.Cell(cs); !ok {
					msg := fmt.Sprintf("baseline cell %q is not a cell of this matrix", cs)
					var ids []string
					for _, c := range m.Cells() {
						ids = append(ids, c.ID)
					}
					if h := nearest(cs, ids); h != "" {
						msg += fmt.Sprintf("; did you mean %q?", h)
					}
					f.errAt(cn, "%s", msg)
				}
			}()
		case !o.has("patchset") && !o.has("cell") && !o.has("arch") && o.unknown == 0:
			f.errAt(o.n, "baseline needs a patchset or a cell")
		}
	}
	if m.Baseline.Patchset == "" && m.Baseline.Cell == "" && len(m.Patchsets) > 0 {
		m.Baseline.Patchset = m.Patchsets[0].Name
		if m.Patchset("base") != nil {
			m.Baseline.Patchset = "base"
		}
	}

	if l.broken {
		return
	}
	// Expansion: ids must be unique, and something must run.
	all := m.AllCells()
	byID := map[string]Cell{}
	reported := map[string]bool{}
	run, excluded, skipped := 0, 0, 0
	for _, c := range all {
		if prev, dup := byID[c.ID]; dup && !reported[c.ID] {
			reported[c.ID] = true
			at := c.Kernel.Pos
			switch {
			case prev.Kernel != c.Kernel:
				at = laterPos(prev.Kernel.Pos, c.Kernel.Pos)
			case prev.Patchset != c.Patchset:
				at = laterPos(prev.Patchset.Pos, c.Patchset.Pos)
			default:
				at = laterPos(prev.Config.Pos, c.Config.Pos)
			}
			names := func(c Cell) string {
				s := fmt.Sprintf("kernel %q, patchset %q, config %q", c.Kernel.Name, c.Patchset.Name, c.Config.Name)
				if m.MultiArch() {
					s += fmt.Sprintf(", arch %q", c.Arch)
				}
				return s
			}
			l.add(at.File, at.Line, at.Col, fmt.Sprintf(
				"cell id %q is ambiguous: %s and %s both give it, because ids join names with \"-\"; rename one of them",
				c.ID, names(prev), names(c)))
		}
		byID[c.ID] = c
		switch {
		case c.Excluded != "":
			excluded++
		case c.Skip != "":
			skipped++
		default:
			run++
		}
	}
	if run == 0 {
		at := l.root
		switch {
		case excluded > 0 && l.axisKeys["exclude"] != nil:
			at = l.axisKeys["exclude"]
		case excluded > 0 && l.axisKeys["include"] != nil:
			at = l.axisKeys["include"]
		case l.axisKeys["patchsets"] != nil:
			at = l.axisKeys["patchsets"]
		}
		by := "applies-to"
		if m.hasPrebuilt() {
			by = "applies-to or because a series cannot apply to a prebuilt kernel"
		}
		f.errAt(at, "the matrix expands to no cell to run: of %d cells, %d are excluded by include/exclude rules and %d skipped by %s", len(all), excluded, skipped, by)
	}
}

// resolveArches judges each kernel's arch: against the matrix's (every
// one must be in it) and resolves Kernel.Arches, in the matrix's order:
// the matrix's when not given. A prebuilt kernel is built for one
// architecture: in a matrix of several it must name it, and only it.
func (l *loader) resolveArches() {
	m := l.m
	if l.topArchBroken {
		return
	}
	for _, k := range m.Kernels {
		ref, given := l.kernelArch[k]
		if ref.bad {
			continue
		}
		if !given {
			k.Arches = slices.Clone(m.Arches)
			if k.Source.Prebuilt != nil && m.MultiArch() {
				fk := l.fileOf(k.Pos)
				fk.errAt(l.kernelSrc[k], "kernel %q is prebuilt (%s), built for one architecture: in a matrix of several (%s), give it arch: with that one, such as arch: [%s]",
					k.Name, l.kernelForm[k], strings.Join(m.Arches, ", "), m.Arches[0])
				l.broken = true
				k.Arches = k.Arches[:1]
			}
			continue
		}
		ok := true
		for i, a := range k.Arches {
			switch {
			case slices.Contains(m.Arches, a):
			case l.archNode == nil:
				ref.f.errAt(ref.items[i], "kernel %q: arch %s is not an architecture of the matrix, which has no arch: and so builds %s only: add a top-level arch: list naming it", k.Name, a, arch.Default)
				ok = false
			default:
				ref.f.errAt(ref.items[i], "kernel %q: arch %s is not an architecture of the matrix (arch: %s): add it to the top-level arch: list", k.Name, a, strings.Join(m.Arches, ", "))
				ok = false
			}
		}
		if ok && k.Source.Prebuilt != nil && len(k.Arches) != 1 {
			ref.f.errAt(ref.n, "kernel %q is prebuilt (%s), built for one architecture: its arch: names exactly one, found %s", k.Name, l.kernelForm[k], strings.Join(k.Arches, ", "))
			ok = false
		}
		if !ok {
			l.broken, l.archBroken = true, true
			continue
		}
		var in []string // in the matrix's order
		for _, a := range m.Arches {
			if slices.Contains(k.Arches, a) {
				in = append(in, a)
			}
		}
		k.Arches = in
	}
}

// warnRequiresArch warns of a suite whose requires.arch names none of
// the matrix's architectures: it runs in no cell.
func (l *loader) warnRequiresArch() {
	if l.topArchBroken {
		return
	}
	for _, s := range l.m.Suites {
		sn := l.suiteNodes[s]
		if len(s.Requires.Arch) == 0 || sn == nil || sn.reqArch == nil {
			continue
		}
		if !slices.ContainsFunc(s.Requires.Arch, func(a string) bool { return slices.Contains(l.m.Arches, a) }) {
			sn.f.warnAt(sn.reqArch, "suite %q requires arch %s, which this matrix does not build (arch: %s): it is skipped in every cell",
				s.Name, strings.Join(s.Requires.Arch, " or "), strings.Join(l.m.Arches, ", "))
		}
	}
}

// checkConfigsAxis reports a matrix without configs that has a kernel
// built from source; a matrix of prebuilt kernels needs none.
func (l *loader) checkConfigsAxis() {
	m := l.m
	if len(m.Configs) > 0 {
		return
	}
	source, prebuilt, unknown := "", false, l.dropped["kernels"]
	for _, k := range m.Kernels {
		switch form := l.kernelForm[k]; form {
		case "":
			unknown = true
		case "image", "deb", "package":
			prebuilt = true
		default:
			if source == "" {
				source = k.Name
			}
		}
	}
	if source == "" && (prebuilt || unknown && len(m.Kernels) > 0) {
		return // every kernel is prebuilt, or the load failed already
	}
	if l.dropped["configs"] {
		l.broken = true
		return
	}
	l.broken = true
	at, empty := l.emptyAxis["configs"]
	if !empty {
		at = l.top.pos(l.root)
		if k := l.axisKeys["configs"]; k != nil {
			at = l.top.pos(k)
		}
	}
	msg := "no configs: a matrix needs at least one config"
	if empty {
		msg = "configs is empty: a matrix needs at least one config"
	}
	if prebuilt {
		msg += fmt.Sprintf(" for kernel %q, which is built from source (prebuilt kernels need none)", source)
	}
	l.add(at.File, at.Line, at.Col, msg)
}

// versionNeed says what needs kernel k's version ("applies-to of
// patchset P", "requires.kernel of suite S"), or "" when nothing does. A
// series-bearing patchset's applies-to does not need a prebuilt kernel's:
// such a cell is skipped anyway.
func (l *loader) versionNeed(k *Kernel) string {
	for _, p := range l.m.Patchsets {
		if p.AppliesTo != "" && !(k.Source.Prebuilt != nil && p.Series != "") {
			return fmt.Sprintf("applies-to of patchset %q", p.Name)
		}
	}
	for _, s := range l.m.Suites {
		if s.Requires.Kernel != "" {
			return fmt.Sprintf("requires.kernel of suite %q", s.Name)
		}
	}
	return ""
}

func laterPos(a, b Position) Position {
	if a.File == b.File && (a.Line > b.Line || a.Line == b.Line && a.Col > b.Col) {
		return a
	}
	return b
}

// fileOf returns a file handle for reporting at a position of any loaded
// file.
func (l *loader) fileOf(p Position) *file {
	return &file{l: l, disp: p.File}
}

// refOK checks a reference (a name or a glob) to an axis value or suite.
func (l *loader) refOK(f *file, n *yaml.Node, what, kind, val string, names []string) bool {
	plural := map[string]string{"kernel": "kernels", "patchset": "patchsets", "config": "configs", "arch": "arches", "suite": "suites"}[kind]
	if isGlob(val) {
		for _, nm := range names {
			if globMatch(val, nm) {
				return true
			}
		}
		f.errAt(n, "%s: %s pattern %q matches no %s", what, kind, val, kind)
		return false
	}
	if contains(names, val) {
		return true
	}
	msg := fmt.Sprintf("%s: no %s named %q", what, kind, val)
	if a, ok := arch.ByName(val); kind == "arch" && ok {
		// kvmtest's name, or another name of an architecture.
		switch {
		case a.Name != val && contains(names, a.Name):
			msg += fmt.Sprintf(" (kvmtest's name of it is %s): write %s", a.Name, a.Name)
		case a.Name != val:
			msg += fmt.Sprintf(" (arches: %s): write %s, kvmtest's name of it, and add it to the top-level arch: list", strings.Join(names, ", "), a.Name)
		default:
			msg += fmt.Sprintf(" (arches: %s): add it to the top-level arch: list", strings.Join(names, ", "))
		}
	} else if h := nearest(val, names); h != "" {
		msg += fmt.Sprintf("; did you mean %q?", h)
	} else if len(names) == 0 {
		msg += fmt.Sprintf(" (the matrix has no %s)", plural)
	} else {
		shown := append([]string{}, names...)
		if kind != "arch" {
			sort.Strings(shown) // arches: in the matrix's order
		}
		if len(shown) > 8 {
			shown = append(shown[:8], "...")
		}
		msg += fmt.Sprintf(" (%s: %s)", plural, strings.Join(shown, ", "))
	}
	f.errAt(n, "%s", msg)
	return false
}

// agentMounts are the guest directories the agent mounts a file system on
// before the suites run (see docs/matrix.md, "The guest's environment").
var agentMounts = []string{"/proc", "/sys", "/dev", "/tmp", "/run"}

// hiddenDst returns the agent's mount point a files: dst of a suite
// running in workdir is under, so that a file copied at boot would be
// hidden; "" when it is not hidden: under no mount point, or under the
// workdir (whose files are put there when the suite starts) while the
// workdir itself is under that mount point.
func hiddenDst(dst, workdir string) string {
	for _, m := range agentMounts {
		if under(dst, m) {
			if under(dst, workdir) && under(workdir, m) {
				return ""
			}
			return m
		}
	}
	return ""
}

// under reports whether the clean absolute path p is dir or inside it.
func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// checkWorkdir reports a suite's workdir that is not an absolute, clean
// guest directory a suite can make and run in.
func (f *file) checkWorkdir(n *yaml.Node, w string) bool {
	switch {
	case !path.IsAbs(w):
		f.errAt(n, "workdir %q must be an absolute guest path, such as /opt/%s", w, path.Base(w))
	case slices.Contains(strings.Split(w, "/"), ".."):
		f.errAt(n, "workdir %q must not contain \"..\" (write %q)", w, path.Clean(w))
	case path.Clean(w) != w:
		f.errAt(n, "workdir %q is not a clean path (write %q)", w, path.Clean(w))
	case w == "/init" || under(w, "/kvmtest"):
		f.errAt(n, "workdir %q is the guest agent's", w)
	case under(w, "/proc") || under(w, "/sys"):
		f.errAt(n, "workdir %q is in a kernel file system (/proc, /sys): a suite cannot make its directory there", w)
	default:
		return true
	}
	return false
}

// maxFilesEntries bounds the entries of one files: directory: the
// initramfs that holds them lives in the guest's memory (and the walk
// bounds the load). A variable for tests.
var maxFilesEntries = 10000

// checkFilesSrc returns what is wrong with the absolute host path of a
// files: src, as a phrase after `file "SRC"`, or "": it must be a regular
// file, or a directory of regular files, directories and symbolic links
// (copied as links, not followed), each file readable.
func checkFilesSrc(p string) string {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return "not found"
	case fi.Mode().IsRegular():
		if err := readable(p); err != nil {
			return fmt.Sprintf("cannot be read: %v", err)
		}
		return ""
	case !fi.IsDir():
		return fmt.Sprintf("is a %s: give a regular file or a directory", fileKind(fi.Mode()))
	}
	n := 0
	var msg string
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(p, q)
		switch {
		case err != nil:
			msg = fmt.Sprintf("holds %s, which cannot be read: %v", rel, trimPathErr(err))
		case n >= maxFilesEntries:
			msg = fmt.Sprintf("holds more than %d entries: the guest's initramfs lives in its memory; copy less, or run the suite in a shared root (rootfs:)", maxFilesEntries)
		case d.Type().IsRegular():
			if err := readable(q); err != nil {
				msg = fmt.Sprintf("holds %s, which cannot be read: %v", rel, err)
			}
		case d.IsDir(), d.Type()&fs.ModeSymlink != 0:
		default:
			msg = fmt.Sprintf("holds %s, a %s: a files: directory may hold only regular files, directories and symbolic links", rel, fileKind(d.Type()))
		}
		n++
		if msg != "" {
			return filepath.SkipAll
		}
		return nil
	})
	return msg
}

// readable opens a regular file for reading, and closes it.
func readable(p string) error {
	fh, err := os.Open(p)
	if err != nil {
		return trimPathErr(err)
	}
	return fh.Close()
}

// fileKind names a file type that is neither a regular file nor a
// directory.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeDevice != 0:
		return "device node"
	}
	return "special file"
}

// isDir reports whether p is a directory (following links).
func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
