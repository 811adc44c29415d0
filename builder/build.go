// Package builder turns a kernel source, a patch series and a config
// specification into a bootable kernel image, cached by the digest of
// everything that changes the output.
package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/internal/tail"
)

// keyVersion changes when the way artifacts are built changes, retiring
// every older cache entry.
const keyVersion = "kvmtest-builder-1"

// Request is one kernel to build.
type Request struct {
	Kernel  string     // matrix kernel name, for messages and metadata
	Source  Source     // where the source comes from
	Patches []string   // patch files applied in order with patch -p1 (may be empty)
	Config  ConfigSpec // how to make .config
	// Arch is the guest architecture (an internal/arch name: x86_64,
	// arm64, riscv64); "" is x86_64. A foreign one is cross-built with
	// Debian's cross toolchain (CROSS_COMPILE=), which is part of the key.
	Arch string
	Log  io.Writer // receives the build log as it is written (may be nil)
}

// Artifact is a built or imported kernel in the cache.
type Artifact struct {
	Key    string
	Dir    string
	Kernel string // path of the bootable image (x86's bzImage, arm64's and riscv's Image)
	Config string // path of the final .config; "" for a prebuilt kernel whose config is unknown
	Log    string // path of the build log
	// Modules is the kernel's installed modules tree, DIR/modules/RELEASE
	// (kernel/**.ko, modules.dep, modules.alias, modules.builtin, ...), as
	// /lib/modules/RELEASE is on a system; "" when the kernel has none.
	Modules string
	Meta    Meta
	Cached  bool // true when nothing was built for this request
}

// Phase names used in BuildError and progress reports.
const (
	PhaseSource = "source"
	PhasePatch  = "patch"
	PhaseConfig = "config"
	PhaseBuild  = "build"
)

// BuildError is a failure to produce a kernel: the cell is build-failed.
type BuildError struct {
	Phase      string // PhaseSource, PhasePatch, PhaseConfig or PhaseBuild
	FirstError string // the first compiler/linker/make error line, when found
	Err        error
}

func (e *BuildError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Phase, e.Err)
	if e.FirstError != "" {
		msg += "\n  first error: " + e.FirstError
	}
	return msg
}

func (e *BuildError) Unwrap() error { return e.Err }

// Builder builds kernels into a Cache.
type Builder struct {
	Cache *Cache
	// Jobs is make's -j; default runtime.NumCPU().
	Jobs int
	// Logf receives progress lines (may be nil).
	Logf func(format string, args ...any)
	// Phase, when set, is told each phase as it starts (for progress display).
	Phase func(kernel, phase string)
	// Objects, when set, is told every 25 objects make reports ("  CC ",
	// "  LD ", "  AR " lines) how many it built so far (ObjectCounter).
	Objects func(kernel string, n int)

	toolsMu sync.Mutex
	tools   map[string]toolsID // by architecture name
}

// toolsID is what a toolchain() call found for one architecture.
type toolsID struct {
	desc string
	err  error
}

func (b *Builder) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

func (b *Builder) phase(req Request, p string) {
	if b.Phase != nil {
		b.Phase(req.Kernel, p)
	}
}

// toolchain describes the compiler and binutils that build for the
// request's architecture (the cross compiler's for a foreign one), part
// of every key. A missing compiler is an error naming the Debian packages
// that provide it.
func (b *Builder) toolchain(req Request) (string, error) {
	a, err := req.archInfo()
	if err != nil {
		return "", err
	}
	b.toolsMu.Lock()
	defer b.toolsMu.Unlock()
	if t, ok := b.tools[a.Name]; ok {
		return t.desc, t.err
	}
	cc, pkgs := a.Toolchain()
	ld := strings.TrimSuffix(cc, "gcc") + "ld"
	var parts []string
	var terr error
	for _, argv := range [][]string{{cc, "--version"}, {ld, "--version"}, {"make", "--version"}} {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			terr = fmt.Errorf("%s: %w (building for %s needs Debian's %s)", strings.Join(argv, " "), err, a.Name, strings.Join(pkgs, " "))
			break
		}
		first, _, _ := strings.Cut(string(out), "\n")
		parts = append(parts, first)
	}
	if b.tools == nil {
		b.tools = map[string]toolsID{}
	}
	b.tools[a.Name] = toolsID{strings.Join(parts, "\n"), terr}
	return b.tools[a.Name].desc, terr
}

// arch returns the request's architecture name (x86_64 when unset).
func (r Request) arch() string {
	if r.Arch == "" {
		return arch.Default
	}
	return r.Arch
}

// archInfo returns the request's architecture, or an error for a name
// internal/arch does not know.
func (r Request) archInfo() (arch.Arch, error) {
	a, ok := arch.ByName(r.arch())
	if !ok {
		return arch.Arch{}, arch.UnknownError(r.arch())
	}
	return a, nil
}

// inputKey digests everything that determines the final .config and the
// build: it lets a warm run find its artifact without running kconfig.
func (b *Builder) inputKey(req Request, srcDigest string) (string, error) {
	tools, err := b.toolchain(req)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nsource %s\narch %s\ntools %s\nbase %s\n", keyVersion, srcDigest, req.arch(), tools, req.Config.Base)
	if !isConfigTarget(req.Config.Base) {
		d, err := fileDigest(req.Config.Base)
		if err != nil {
			return "", fmt.Errorf("base config: %w", err)
		}
		fmt.Fprintf(h, "base-digest %s\n", d)
	}
	for _, f := range req.Config.Fragments {
		d, err := fileDigest(f)
		if err != nil {
			return "", fmt.Errorf("config fragment: %w", err)
		}
		fmt.Fprintf(h, "fragment %s\n", d)
	}
	for _, o := range req.Config.Options {
		fmt.Fprintf(h, "option %s\n", strings.TrimSpace(o))
	}
	for _, p := range req.Patches {
		d, err := fileDigest(p)
		if err != nil {
			return "", fmt.Errorf("patch: %w", err)
		}
		fmt.Fprintf(h, "patch %s\n", d)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// artifactKey digests the source identity, the patches, the resolved
// .config, the toolchain and the make variables.
func (b *Builder) artifactKey(req Request, srcDigest string, patchDigests []string, finalConfig []byte) string {
	tools, _ := b.toolchain(req)
	h := sha256.New()
	fmt.Fprintf(h, "%s\nsource %s\narch %s\ntools %s\n", keyVersion, srcDigest, req.arch(), tools)
	for _, d := range patchDigests {
		fmt.Fprintf(h, "patch %s\n", d)
	}
	h.Write(configForKey(finalConfig))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func isConfigTarget(base string) bool {
	return base != "" && !strings.ContainsRune(base, '/') && strings.HasSuffix(base, "config")
}

// Build returns the artifact for req, building it only when the cache has
// no intact artifact for the same inputs. Concurrent builds of the same
// inputs (in this or another process) wait for each other instead of
// building twice. A prebuilt source (Source.Prebuilt) is imported, not
// built: its image, config (when known) and modules are stored as an
// artifact keyed by their content, the first time (a package is
// downloaded and a .deb unpacked once); req.Config is not applied and a
// patch series is refused. On failure the error is a *BuildError and
// nothing is stored.
func (b *Builder) Build(ctx context.Context, req Request) (*Artifact, error) {
	logw := req.Log
	if logw == nil {
		logw = io.Discard
	}
	if req.Source.Prebuilt() {
		return b.importPrebuilt(ctx, req, logw)
	}
	b.phase(req, PhaseSource)
	src, err := b.Cache.prepareSource(ctx, req.Source, b.logf)
	if err != nil {
		return nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	ikey, err := b.inputKey(req, src.Digest)
	if err != nil {
		return nil, &BuildError{Phase: PhaseConfig, Err: err}
	}
	a, unlock, err := b.hitOrLock(req, ikey, "build", logw)
	if a != nil || err != nil {
		return a, err
	}
	defer unlock()
	return b.build(ctx, req, src, ikey, logw)
}

// hitOrLock returns the cached artifact of ikey, copying its log to logw;
// or, when there is none, takes the input key's lock (waiting for
// another process making it, which may leave the artifact behind: then
// that is returned, unlocked) and returns its unlock: the caller makes
// the artifact. what names the making ("build", "import") in messages.
func (b *Builder) hitOrLock(req Request, ikey, what string, logw io.Writer) (*Artifact, func(), error) {
	if a := b.lookup(ikey); a != nil {
		fmt.Fprintf(logw, "kvmtest: cache hit: artifact %s (made %s in %.0fs); its %s log follows\n\n",
			a.Key, a.Meta.BuiltAt.Format(time.RFC3339), a.Meta.BuildSecs, what)
		copyLog(logw, a.Log)
		return a, nil, nil
	}
	unlock, err := b.Cache.LockWaiting("input-"+ikey, "the "+what+" of "+req.Kernel+" (input key "+ikey+")", b.logf)
	if err != nil {
		return nil, nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	if a := b.lookup(ikey); a != nil { // made by someone else while we waited
		unlock()
		fmt.Fprintf(logw, "kvmtest: cache hit after waiting: artifact %s\n", a.Key)
		copyLog(logw, a.Log)
		return a, nil, nil
	}
	return nil, unlock, nil
}

// lookup returns the intact artifact recorded for an input key, or nil.
func (b *Builder) lookup(ikey string) *Artifact {
	k, err := os.ReadFile(b.Cache.Path("index", ikey))
	if err != nil {
		return nil
	}
	a, err := b.Cache.LoadArtifact(strings.TrimSpace(string(k)))
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			b.logf("cache: %v; rebuilding", err)
		}
		return nil
	}
	a.Cached = true
	return a
}

func (b *Builder) build(ctx context.Context, req Request, src *prepared, ikey string, logw io.Writer) (*Artifact, error) {
	start := time.Now()
	skey, err := b.slotKey(req, src.slotSource(req.Kernel))
	if err != nil {
		return nil, &BuildError{Phase: PhaseConfig, Err: err}
	}
	// One build at a time in a slot (other processes included).
	unlock, err := b.Cache.LockWaiting(skey, "the build slot of "+req.Kernel+" ("+skey+")", b.logf)
	if err != nil {
		return nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	defer unlock()
	logDir := b.Cache.Path("work", "logs")
	os.MkdirAll(logDir, 0o755)
	// The full log goes to the cell (logw) and to the artifact's own copy.
	logPath := filepath.Join(logDir, ikey+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, &BuildError{Phase: PhaseConfig, Err: err}
	}
	defer lf.Close()
	logTail := tail.New(256 << 10)
	objects := &ObjectCounter{Every: 25, Report: func(n int) {
		if b.Objects != nil {
			b.Objects(req.Kernel, n)
		}
	}}
	out := io.MultiWriter(lf, logw, logTail, objects)

	sl, err := b.openSlot(ctx, skey, src, out)
	if err != nil {
		return nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	tree, work := sl.src, sl.build
	patchDigests, _, err := digestFiles(req.Patches)
	if err != nil {
		return nil, &BuildError{Phase: PhasePatch, Err: err}
	}
	b.phase(req, PhasePatch)
	if err := sl.checkout(ctx, b, req.Patches, patchDigests, out); err != nil {
		return nil, &BuildError{Phase: PhasePatch, Err: err}
	}

	b.phase(req, PhaseConfig)
	var final []byte
	if sl.state().Configured {
		// Same config spec, no Kconfig change: the slot's .config stands.
		final, err = b.checkConfig(req, tree, work)
		if err == nil {
			fmt.Fprintf(out, "kvmtest: reusing the slot's .config (same config inputs, no Kconfig change)\n")
		}
	}
	if final == nil {
		sl.setConfigured(false)
		final, err = b.configure(ctx, req, tree, work, out)
		if err != nil {
			return nil, &BuildError{Phase: PhaseConfig, Err: err, FirstError: FirstError(logTail.Bytes())}
		}
		sl.setConfigured(true)
	}
	key := b.artifactKey(req, src.Digest, patchDigests, final)
	// Another input set may already have produced this exact artifact.
	if a, err := b.Cache.LoadArtifact(key); err == nil {
		fmt.Fprintf(out, "kvmtest: configuration resolves to existing artifact %s\n", key)
		if err := writeFileAtomic(b.Cache.Path("index", ikey), []byte(key+"\n")); err != nil {
			return nil, &BuildError{Phase: PhaseBuild, Err: err}
		}
		a.Cached = true
		return a, nil
	}

	b.phase(req, PhaseBuild)
	jobs := b.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	var depmod string
	withModules := configHasModules(final)
	if withModules { // before a long build that could not install them
		if depmod, err = depmodPath(); err != nil {
			return nil, &BuildError{Phase: PhaseBuild, Err: err}
		}
	}
	ga := arch.MustByName(req.arch()) // the key's toolchain() checked it
	argv := append(b.makeArgs(req, tree, work), fmt.Sprintf("-j%d", jobs), ga.ImageTarget)
	fmt.Fprintf(out, "kvmtest: %s\n", strings.Join(argv, " "))
	b.logf("building %s (make -j%d, log: %s)", req.Kernel, jobs, logPath)
	if err := b.run(ctx, work, out, argv...); err != nil {
		return nil, &BuildError{Phase: PhaseBuild, Err: err, FirstError: FirstError(logTail.Bytes())}
	}
	files := map[string]string{
		imageName(ga.Name): filepath.Join(work, filepath.FromSlash(ga.ImagePath)),
		fileConfig:         filepath.Join(work, ".config"),
		fileLog:            logPath,
	}
	if withModules {
		mods, scratch, err := b.buildModules(ctx, req, tree, work, depmod, jobs, out)
		if err != nil {
			return nil, &BuildError{Phase: PhaseBuild, Err: err, FirstError: FirstError(logTail.Bytes())}
		}
		defer os.RemoveAll(scratch)
		maps.Copy(files, mods)
	}
	release, _ := b.output(ctx, work, append(b.makeArgs(req, tree, work), "-s", "kernelrelease")...)
	lf.Sync()
	secs := time.Since(start).Seconds()
	fmt.Fprintf(out, "kvmtest: built %s in %.0fs\n", release, secs)
	meta := Meta{
		Key:     key,
		Kernel:  req.Kernel,
		Version: strings.TrimSpace(release),
		Inputs: map[string]string{
			"source":    src.Digest,
			"input_key": ikey,
			"arch":      req.arch(),
			"patches":   strings.Join(patchDigests, ","),
		},
		BuiltAt:   time.Now().UTC(),
		BuildSecs: secs,
		Objects:   objects.Count(),
	}
	a, err := b.Cache.StoreArtifact(meta, files)
	if err != nil {
		return nil, &BuildError{Phase: PhaseBuild, Err: err}
	}
	if err := writeFileAtomic(b.Cache.Path("index", ikey), []byte(key+"\n")); err != nil {
		return nil, &BuildError{Phase: PhaseBuild, Err: err}
	}
	return a, nil
}

// makeArgs is the common make invocation: out of tree, for the request's
// architecture (cross-compiled when foreign), fixed build metadata so
// that identical inputs give identical images, ccache when present.
func (b *Builder) makeArgs(req Request, tree, work string) []string {
	a := arch.MustByName(req.arch())
	argv := append([]string{"make", "-C", tree, "O=" + work}, a.MakeVars()...)
	argv = append(argv, "KBUILD_BUILD_USER=kvmtest", "KBUILD_BUILD_HOST=kvmtest", "KBUILD_BUILD_TIMESTAMP=1970-01-01")
	if _, err := exec.LookPath("ccache"); err == nil {
		argv = append(argv, "CC=ccache "+a.CC())
	}
	return argv
}

// configure writes work/.config from the spec and returns it, after
// checking that every requested option survived.
func (b *Builder) configure(ctx context.Context, req Request, tree, work string, out io.Writer) ([]byte, error) {
	spec := req.Config
	mk := b.makeArgs(req, tree, work)
	os.Remove(filepath.Join(work, ".config"))
	switch {
	case spec.Base == "":
		return nil, fmt.Errorf("config: no base (tinyconfig, defconfig, allnoconfig or a file)")
	case isConfigTarget(spec.Base):
		if err := b.run(ctx, work, out, append(mk, spec.Base)...); err != nil {
			return nil, fmt.Errorf("make %s: %w", spec.Base, err)
		}
	default:
		data, err := os.ReadFile(spec.Base)
		if err != nil {
			return nil, fmt.Errorf("base config: %w", err)
		}
		if err := os.WriteFile(filepath.Join(work, ".config"), data, 0o644); err != nil {
			return nil, err
		}
	}
	frags := append([]string(nil), spec.Fragments...)
	if len(spec.Options) > 0 {
		p := filepath.Join(work, "kvmtest-options.config")
		if err := os.WriteFile(p, spec.optionsFragment(), 0o644); err != nil {
			return nil, err
		}
		frags = append(frags, p)
	}
	if len(frags) > 0 {
		merge := filepath.Join(tree, "scripts", "kconfig", "merge_config.sh")
		argv := append([]string{"bash", merge, "-m", "-O", work, filepath.Join(work, ".config")}, frags...)
		if err := b.run(ctx, work, out, argv...); err != nil {
			return nil, fmt.Errorf("merge_config.sh: %w", err)
		}
	}
	if err := b.run(ctx, work, out, append(mk, "olddefconfig")...); err != nil {
		return nil, fmt.Errorf("make olddefconfig: %w", err)
	}
	return b.checkConfig(req, tree, work)
}

// checkConfig reads work/.config and checks every requested option in it.
func (b *Builder) checkConfig(req Request, tree, work string) ([]byte, error) {
	final, err := os.ReadFile(filepath.Join(work, ".config"))
	if err != nil {
		return nil, err
	}
	want, order, err := req.Config.requested()
	if err != nil {
		return nil, err
	}
	if err := verifyConfig(want, order, final); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			got, _ := parseConfig(final)
			for i := range ce.Missing {
				ce.Missing[i].Why = explainDeps(tree, arch.MustByName(req.arch()).SrcArch, strings.TrimPrefix(ce.Missing[i].Symbol, "CONFIG_"), got)
			}
		}
		return nil, err
	}
	return final, nil
}

// run runs argv in dir, sending stdout and stderr to out.
func (b *Builder) run(ctx context.Context, dir string, out io.Writer, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = b.env()
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

func (b *Builder) output(ctx context.Context, dir string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = b.env()
	o, err := cmd.Output()
	return string(o), err
}

// env is the build environment: ccache keeps its files in the kvmtest
// cache, and paths under the cache are rewritten relative so that trees in
// different directories share hits.
func (b *Builder) env() []string {
	env := os.Environ()
	env = append(env,
		"CCACHE_DIR="+b.Cache.Path("ccache"),
		"CCACHE_BASEDIR="+b.Cache.Root,
		"CCACHE_NOHASHDIR=1",
		"CCACHE_MAXSIZE=5G",
		"LC_ALL=C",
	)
	return env
}

func copyLog(w io.Writer, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	io.Copy(w, f)
}

// Lookup returns the cached artifact for req without building, extracting
// or checking anything out (nor unpacking or downloading a prebuilt
// kernel), or nil when the cache has none.
func (b *Builder) Lookup(ctx context.Context, req Request) *Artifact {
	if req.Source.Prebuilt() {
		return b.lookupPrebuilt(req)
	}
	var digest string
	switch s := req.Source; {
	case s.Tarball != "":
		d, err := b.Cache.tarballDigest(s.Tarball)
		if err != nil {
			return nil
		}
		digest = d
	case s.Path != "":
		p, err := preparePath(s.Path)
		if err != nil {
			return nil
		}
		digest = p.Digest
	case s.GitRepo != "":
		dir, err := b.Cache.gitRepo(ctx, s.GitRepo, b.logf)
		if err != nil {
			return nil
		}
		commit, err := gitOut(ctx, dir, "rev-parse", "--verify", "--end-of-options", s.GitRef+"^{commit}")
		if err != nil {
			return nil
		}
		digest = "git-" + commit
	default:
		return nil
	}
	ikey, err := b.inputKey(req, digest)
	if err != nil {
		return nil
	}
	return b.lookup(ikey)
}
