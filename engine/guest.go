package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/internal/atomicfile"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/vmrunner"
	"github.com/kvmtest/kvmtest/vmrunner/initramfs"
)

// guestSet is what goes into every initramfs of a run: the agent, test2json
// and the suite programs, compiled once for the guest.
type guestSet struct {
	Agent     string            // host path of the static agent
	Test2JSON string            // host path of a static cmd/test2json
	Suites    map[string]string // suite name -> host path of its program (go-test and binary suites)
}

// goEnv is the environment for compiling guest programs: static, for the
// guest's architecture (GOARCH goarch).
func goEnv(goarch string) []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
}

func goRun(ctx context.Context, dir, goarch string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv(goarch)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// GuestCompileError is a guest program that does not compile. Suite is
// the matrix suite whose go-test package it is (nil for the agent and
// test2json); Err holds the compiler's output.
type GuestCompileError struct {
	Suite   *matrices.Suite
	Program string // "the guest agent", "test2json" or the go-test directory
	Err     error
}

func (e *GuestCompileError) Error() string {
	if e.Suite != nil {
		return fmt.Sprintf("suite %s: compiling %s: %v", e.Suite.Name, e.Program, e.Err)
	}
	return fmt.Sprintf("building %s: %v", e.Program, e.Err)
}

func (e *GuestCompileError) Unwrap() error { return e.Err }

// buildGuest compiles the agent (from kvmtest's own source tree srcDir),
// test2json and every go-test suite of the matrices into dir, for the
// guest architecture archName (an internal/arch name). Compiled
// programs are kept in cacheDir (the cache's GuestDir; "" for nowhere)
// under a digest of the Go version and every Go source file of their
// module, with the sha256 of each checked on reuse, so a warm run links
// nothing and never boots a damaged program (logf, which may be nil, is
// told of one rebuilt). A program that does not compile is a
// *GuestCompileError.
func buildGuest(ctx context.Context, srcDir, dir, cacheDir, archName string, suites []*matrices.Suite, logf func(string, ...any)) (*guestSet, error) {
	a, ok := arch.ByName(archName)
	if !ok {
		return nil, arch.UnknownError(archName)
	}
	if err := os.MkdirAll(filepath.Join(dir, "suites"), 0o755); err != nil {
		return nil, err
	}
	gc := &goCache{dir: cacheDir, goarch: a.GOARCH, logf: logf}
	g := &guestSet{Suites: map[string]string{}}
	var err error
	if g.Agent, err = gc.build(ctx, srcDir, filepath.Join(dir, "init"), "build", "-trimpath", "-o", "OUT", "./guest/agent"); err != nil {
		return nil, &GuestCompileError{Program: "the guest agent", Err: err}
	}
	if g.Test2JSON, err = gc.build(ctx, srcDir, filepath.Join(dir, "test2json"), "build", "-trimpath", "-o", "OUT", "cmd/test2json"); err != nil {
		return nil, &GuestCompileError{Program: "test2json", Err: err}
	}
	for _, s := range suites {
		switch {
		case s.GoTest != "":
			out := filepath.Join(dir, "suites", s.Name+".test")
			p, err := gc.build(ctx, s.GoTest, out, "test", "-c", "-trimpath", "-o", "OUT", ".")
			if err != nil {
				return nil, &GuestCompileError{Suite: s, Program: s.GoTest, Err: err}
			}
			g.Suites[s.Name] = p
		case s.Binary != "":
			g.Suites[s.Name] = s.Binary
		}
	}
	return g, nil
}

// startGuest starts compiling the guest programs (buildGuest) at once, in
// the background, so that they compile while the first kernel builds;
// the returned function waits for them and returns them, or why not, on
// every call.
func startGuest(ctx context.Context, srcDir, dir, cacheDir, archName string, suites []*matrices.Suite, logf func(string, ...any)) func() (*guestSet, error) {
	var g *guestSet
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if logf != nil {
			what := ""
			if archName != arch.Default {
				what = " for " + archName
			}
			logf("compiling the guest agent and suites%s", what)
		}
		g, err = buildGuest(ctx, srcDir, dir, cacheDir, archName, suites, logf)
	}()
	return func() (*guestSet, error) {
		<-done
		return g, err
	}
}

// CompileGuest compiles the guest programs a run of suites needs (the
// agent from kvmtest's source tree srcDir, test2json and every go-test
// suite) into cacheDir, the cache's GuestDir, where a run finds them
// compiled, once for each architecture of archs ("" or none: x86_64). It
// is validation: a go-test package that does not compile is a
// *GuestCompileError naming its suite, found before any kernel build.
func CompileGuest(ctx context.Context, srcDir, cacheDir string, archs []string, suites []*matrices.Suite, logf func(string, ...any)) error {
	scratch, err := os.MkdirTemp("", "kvmtest-guest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if len(archs) == 0 {
		archs = []string{arch.Default}
	}
	for _, a := range archs {
		if _, err := buildGuest(ctx, srcDir, filepath.Join(scratch, a), cacheDir, a, suites, logf); err != nil {
			return err
		}
	}
	return nil
}

// goCache keeps compiled guest programs by the digest of what made them:
// DIR/KEY is the program and DIR/KEY.sha256 the hex sha256 of its bytes,
// checked on every reuse, so that a damaged entry (truncated by a full
// disk or a kill) is rebuilt, never booted.
type goCache struct {
	dir     string
	goarch  string // GOARCH of the programs
	version string
	logf    func(format string, args ...any) // told about damaged entries (may be nil)
}

// digestSuffix names the file beside a cached program holding its sha256.
const digestSuffix = ".sha256"

// build runs `go ARGS` in dir with OUT replaced by the output path, unless
// an identical build is cached intact; it returns the program's path.
func (c *goCache) build(ctx context.Context, dir, out string, args ...string) (string, error) {
	run := func(dst string) error {
		a := append([]string(nil), args...)
		for i := range a {
			if a[i] == "OUT" {
				a[i] = dst
			}
		}
		return goRun(ctx, dir, c.goarch, a...)
	}
	if c.dir == "" {
		return out, run(out)
	}
	key, err := c.key(dir, args)
	if err != nil {
		return out, run(out)
	}
	cached := filepath.Join(c.dir, key)
	if ok, why := c.intact(cached); ok {
		now := time.Now()
		os.Chtimes(cached, now, now) // used: kept by cache gc
		os.Chtimes(cached+digestSuffix, now, now)
		return cached, nil
	} else if why != "" && c.logf != nil {
		c.logf("guest cache: %s: %s; rebuilding it", cached, why)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", cached, os.Getpid())
	if err := run(tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := storeDigested(tmp, cached); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("storing %s in the guest cache: %w", cached, err)
	}
	return cached, nil
}

// intact says whether the cached program at path is there with the
// digest recorded beside it; why says what is wrong ("" when there is no
// entry at all).
func (c *goCache) intact(path string) (ok bool, why string) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, ""
	}
	if !fi.Mode().IsRegular() {
		return false, "not a regular file"
	}
	want, err := os.ReadFile(path + digestSuffix)
	if err != nil {
		return false, "no recorded digest"
	}
	got, err := fileSHA256(path)
	if err != nil {
		return false, err.Error()
	}
	if w := strings.TrimSpace(string(want)); got != w {
		return false, fmt.Sprintf("sha256 %s, recorded %s (damaged)", got, w)
	}
	return true, ""
}

// storeDigested fsyncs the program at tmp, records its digest as
// dst.sha256 and renames it to dst: a dst that exists has its digest.
func storeDigested(tmp, dst string) error {
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	d, err := fileSHA256(tmp)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(dst+digestSuffix, []byte(d+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// fileSHA256 is the hex sha256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *goCache) key(dir string, args []string) (string, error) {
	if c.version == "" {
		cmd := exec.Command("go", "env", "GOVERSION", "GOFLAGS")
		cmd.Env = goEnv(c.goarch)
		v, err := cmd.Output()
		if err != nil {
			return "", err
		}
		c.version = string(v)
	}
	root, err := moduleRoot(dir)
	if err != nil {
		return "", err
	}
	rel, _ := filepath.Rel(root, dir)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", c.version, rel, strings.Join(args, " "))
	if c.goarch != "amd64" { // amd64's keys predate the other architectures
		fmt.Fprintf(h, "GOARCH=%s\n", c.goarch)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "kvmtest-results") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s %d\n", r, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// moduleRoot finds the directory of the go.mod governing dir.
func moduleRoot(dir string) (string, error) {
	d := dir
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%s is not inside a Go module", dir)
		}
		d = parent
	}
}

// guestSuitePath is where a suite's program lives in the guest.
func guestSuitePath(name string) string { return "/kvmtest/suites/" + name }

// guestKselftestPath is where a kselftest suite's program (or script, or
// helper) lives in the guest: the programs of one suite share a directory,
// the one they run in.
func guestKselftestPath(suite, name string) string {
	return "/kvmtest/kselftest/" + suite + "/" + name
}

// heartbeat is how often the agent says it is alive: a guest that sends
// nothing for vm.silence-timeout (many heartbeats) has a hung kernel, not
// a slow test.
const heartbeat = 5 * time.Second

// kselftestRunner is the agent's kselftest runner mode: it runs programs
// one after another and prints one KTAP document.
const kselftestRunner = "kselftest-run"

// manifestFor returns the agent's manifest for a cell; skip maps suite
// names to the reason they cannot run in this cell.
//
// Suite timeouts are written for KVM: each is multiplied by slowdown
// (vmrunner.Slowdown of the accelerator the VM runs under), so that a
// suite that fits its timeout under KVM is not killed under TCG.
func manifestFor(cellID string, suites []*matrices.Suite, skip map[string]string, slowdown float64) proto.Manifest {
	m := proto.Manifest{Cell: cellID, Test2JSON: "/kvmtest/bin/test2json", Heartbeat: proto.Duration(heartbeat)}
	for _, s := range suites {
		var argv []string
		switch {
		case len(s.Command) > 0:
			argv = append(argv, s.Command...)
		case s.Kselftest != nil:
			argv = append(argv, "/init", kselftestRunner)
			for _, t := range s.Kselftest.Tests {
				argv = append(argv, guestKselftestPath(s.Name, t))
			}
		default:
			argv = append(argv, guestSuitePath(s.Name))
		}
		argv = append(argv, s.Args...)
		format := s.Format
		if format == "" {
			format = proto.FormatExitCode
			if s.GoTest != "" {
				format = proto.FormatGo
			}
		}
		m.Suites = append(m.Suites, proto.Suite{
			Name:    s.Name,
			Argv:    argv,
			Timeout: proto.Duration(vmrunner.ScaleTimeout(s.Timeout, slowdown)),
			Format:  format,
			Skip:    skip[s.Name],
			Modules: s.Modules,
			Workdir: s.GuestWorkdir(),
		})
	}
	return m
}

// cellGuest is what one cell adds to the guest programs every cell shares.
type cellGuest struct {
	// Kselftests maps "DIR/NAME" to the host path of a kselftest program
	// built from this cell's tree.
	Kselftests map[string]string
	// Built names the kselftest suites whose programs are in Kselftests
	// (not those the cell skips).
	Built map[string]bool
	// Busybox is the host path of a static busybox, installed as /bin/sh
	// and its applets, for the kselftest scripts and every program that
	// runs a shell ("" for none).
	Busybox string
	// Modules is the host directory of the kernel's module tree, put in
	// the initramfs at proto.ModulesDir/RELEASE (its base name); "" for
	// none. ModuleFiles, when not nil, are the only modules of it the
	// initramfs carries (with the tree's index files): a tree too big to
	// carry whole.
	Modules     string
	ModuleFiles []string
}

// initramfsMode is the permission of a written initramfs: it may hold
// copies of files only their owner may read (files: of a suite).
const initramfsMode = 0o600

// copiedFileMode is the mode of a suite's file copied into the guest (with
// os.ModeDir for a directory, copied whole): the
// host file's permission bits (a 0640 file stays 0640, an executable one
// executable), and executable by its owner when it is the program the
// suite runs (command: names it).
func copiedFileMode(f matrices.File, s *matrices.Suite) (os.FileMode, error) {
	fi, err := os.Stat(f.Src)
	if err != nil {
		return 0, err
	}
	mode := fi.Mode() & (os.ModeDir | os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	if len(s.Command) > 0 && s.Command[0] == f.Dst {
		mode |= 0o100
	}
	// A mode of 0 is the host file's for AddHostFile: the same here.
	return mode, nil
}

// writeInitramfs writes the cell's initramfs: the agent as /init, test2json,
// the suite programs, extra files and the manifest.
// etcFiles are the /etc files every initramfs has, so that programs that
// look up users, groups or localhost find them; a suite's files: entry
// of the same path replaces one.
var etcFiles = map[string]string{
	"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
	"/etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	"/etc/hosts":  "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
}

// addEtc adds etcFiles to a, except those a suite's files: copies.
func addEtc(a *initramfs.Archive, suites []*matrices.Suite) {
	copied := map[string]bool{}
	for _, s := range suites {
		for _, f := range s.Files {
			copied[f.Dst] = true
		}
	}
	for _, p := range slices.Sorted(maps.Keys(etcFiles)) {
		if !copied[p] {
			a.AddFile(p, 0o644, []byte(etcFiles[p]))
		}
	}
}

func writeInitramfs(path string, g *guestSet, cg *cellGuest, suites []*matrices.Suite, man []byte) (string, error) {
	var a initramfs.Archive
	a.AddBaseDevices() // the Go runtime aborts without /dev/null or /dev/console
	if err := a.AddHostFile("/init", g.Agent, 0o755); err != nil {
		return "", err
	}
	if err := a.AddHostFile("/kvmtest/bin/test2json", g.Test2JSON, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/tmp", "/root", "/etc"} {
		a.AddDir(d, 0o755)
	}
	addEtc(&a, suites)
	for _, s := range suites {
		if p, ok := g.Suites[s.Name]; ok {
			if err := a.AddHostFile(guestSuitePath(s.Name), p, 0o755); err != nil {
				return "", err
			}
		}
		for _, f := range s.Files {
			mode, err := copiedFileMode(f, s)
			switch {
			case err == nil && mode.IsDir():
				err = addHostTree(&a, f.Dst, f.Src, true)
			case err == nil:
				err = a.AddHostFile(f.Dst, f.Src, mode)
			}
			if err != nil {
				return "", fmt.Errorf("suite %s: %w", s.Name, err)
			}
		}
		if ks := s.Kselftest; ks != nil && cg != nil && cg.Built[s.Name] {
			for _, name := range append(append([]string(nil), ks.Tests...), ks.Extra...) {
				p, ok := cg.Kselftests[ks.Dir+"/"+name]
				if !ok {
					return "", fmt.Errorf("suite %s: kselftest %s/%s was not built", s.Name, ks.Dir, name)
				}
				if err := a.AddHostFile(guestKselftestPath(s.Name, name), p, 0o755); err != nil {
					return "", fmt.Errorf("suite %s: %w", s.Name, err)
				}
			}
		}
	}
	if cg != nil && cg.Busybox != "" {
		if err := addBusybox(&a, cg.Busybox); err != nil {
			return "", err
		}
	}
	// The agent is modprobe (for suites, and for the kernel's own module
	// requests), with or without modules to load.
	a.AddDir("/sbin", 0o755)
	a.AddSymlink("/sbin/modprobe", "/init")
	if cg != nil && cg.Modules != "" {
		if err := addModules(&a, cg.Modules, cg.ModuleFiles); err != nil {
			return "", err
		}
	}
	a.AddFile(proto.ManifestPath, 0o644, man)
	// The archive may hold copies of private host files (files: of a
	// suite): it is its owner's only, like the most private of them.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, initramfsMode)
	if err != nil {
		return "", err
	}
	if err := f.Chmod(initramfsMode); err != nil { // an older file kept its mode
		f.Close()
		return "", err
	}
	if _, err := a.WriteTo(f); err != nil {
		f.Close()
		return "", fmt.Errorf("writing initramfs: %w", err)
	}
	return a.Digest(), f.Close()
}

// addModules adds the module tree dir (modules_install's
// lib/modules/RELEASE) to a at proto.ModulesDir/RELEASE, RELEASE being
// dir's base name; its links (build, source) are left out. With only
// not nil, it adds the tree's index files (modules.dep, modules.alias,
// ...) and only those module files (paths relative to dir).
func addModules(a *initramfs.Archive, dir string, only []string) error {
	base := path.Join(proto.ModulesDir, filepath.Base(dir))
	if only == nil {
		if err := addHostTree(a, base, dir, false); err != nil {
			return fmt.Errorf("kernel modules: %w", err)
		}
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("kernel modules: %w", err)
	}
	files := slices.Clone(only)
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	for _, f := range files {
		if err := a.AddHostFile(path.Join(base, f), filepath.Join(dir, filepath.FromSlash(f)), 0o644); err != nil {
			return fmt.Errorf("kernel modules: %w", err)
		}
	}
	return nil
}

// addHostTree adds the host directory dir to a at guestDir, recursively:
// directories and regular files with their permission bits, symbolic
// links as links when links is set (left out otherwise). Other files
// (devices, sockets) are errors.
func addHostTree(a *initramfs.Archive, guestDir, dir string, links bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		guest := path.Join(guestDir, filepath.ToSlash(rel))
		switch t := d.Type(); {
		case t.IsDir():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			a.AddDir(guest, fi.Mode().Perm())
		case t.IsRegular():
			return a.AddHostFile(guest, p, 0)
		case t&fs.ModeSymlink != 0:
			if links {
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				a.AddSymlink(guest, target)
			}
		default:
			return fmt.Errorf("%s: a %v, not a file, directory or link", p, t)
		}
		return nil
	})
}

// cellGuest builds what this cell's suites need from its own kernel tree:
// the kselftest programs. A suite whose programs do not build is recorded
// in r.suiteErr; the others go on.
func (r *cellRun) cellGuest(ctx context.Context, skip map[string]string) *cellGuest {
	cg := &cellGuest{Kselftests: map[string]string{}, Built: map[string]bool{}}
	if bb, err := StaticBusybox(cellArch(r.mc)); err == nil {
		cg.Busybox = bb
	}
	var tests []builder.Kselftest
	var names []string
	for _, s := range r.o.Matrix.Suites {
		if s.Kselftest == nil || skip[s.Name] != "" {
			continue
		}
		tests = append(tests, builder.Kselftest{Dir: s.Kselftest.Dir, Names: append(append([]string(nil), s.Kselftest.Tests...), s.Kselftest.Extra...)})
		names = append(names, s.Name)
	}
	if len(tests) == 0 {
		return cg
	}
	r.buildPhase(builder.PhaseKselftest)
	logf, err := r.createRecord("build.log", os.O_APPEND)
	if err == nil {
		defer r.closeFile(logf)
	}
	req, err := BuildRequest(r.mc)
	if err == nil {
		if logf != nil {
			req.Log = logf
		}
		var set *builder.KselftestSet
		set, err = r.b.BuildKselftests(ctx, req, tests)
		if err == nil {
			cg.Kselftests = set.Files
			for _, n := range names {
				cg.Built[n] = true
			}
			return cg
		}
	}
	if r.suiteErr == nil {
		r.suiteErr = map[string]string{}
	}
	for _, n := range names {
		r.suiteErr[n] = "building the kselftests: " + err.Error()
	}
	return cg
}

// runnableSuites are the matrix's suites this cell can boot with: all but
// those that could not be prepared.
func (r *cellRun) runnableSuites() []*matrices.Suite {
	var out []*matrices.Suite
	for _, s := range r.o.Matrix.Suites {
		if _, bad := r.suiteErr[s.Name]; !bad {
			out = append(out, s)
		}
	}
	return out
}
