package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/internal/tail"
)

// PhaseKselftest is the phase of a failed kselftest build.
const PhaseKselftest = "kselftest"

// Kselftest names programs of one directory of the kernel's selftests,
// tools/testing/selftests/Dir.
type Kselftest struct {
	Dir   string   // such as "mm" or "splice"
	Names []string // make targets (cow) or files of Dir (short_splice_read.sh)
}

// KselftestSet is a set of kselftest programs built from one source tree
// (with its patches), in the cache.
type KselftestSet struct {
	Key string
	Dir string // cache directory: DIR/NAME for every program, build.log
	// Files maps "DIR/NAME" to the host path of the program or script.
	Files  map[string]string
	Cached bool // nothing was built for this request
}

// kselftestMeta is kselftest/KEY/meta.json.
type kselftestMeta struct {
	Key     string            `json:"key"`
	Kernel  string            `json:"kernel"`
	Files   map[string]string `json:"files"` // "DIR/NAME" -> path relative to the set's directory
	BuiltAt time.Time         `json:"built_at"`
	Secs    float64           `json:"secs"`
}

// kselftestKey digests what the programs are made from: the source, the
// patches, the toolchain and the list of programs. The kernel config does
// not enter: the selftests are built against the tree's UAPI headers.
func (b *Builder) kselftestKey(req Request, srcDigest string, patchDigests []string, tests []Kselftest) (string, error) {
	tools, err := b.toolchain(req)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nkselftest-1\nsource %s\narch %s\ntools %s\n", keyVersion, srcDigest, req.arch(), tools)
	for _, d := range patchDigests {
		fmt.Fprintf(h, "patch %s\n", d)
	}
	for _, t := range tests {
		fmt.Fprintf(h, "dir %s %s\n", t.Dir, strings.Join(t.Names, " "))
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// BuildKselftests builds the named kselftest programs from the source tree
// of req (its patches applied), statically, so that they run in a guest
// with no C library. A directory's Makefile builds each program that is a
// make target (`make OUTPUT=… KHDR_INCLUDES=… LDFLAGS=-static OUTPUT/NAME`,
// against the tree's own UAPI headers from `make headers`); a file of that
// name in the directory (a script) is copied. The set is cached by source,
// patches, toolchain and names: a warm run builds nothing.
func (b *Builder) BuildKselftests(ctx context.Context, req Request, tests []Kselftest) (*KselftestSet, error) {
	logw := req.Log
	if logw == nil {
		logw = io.Discard
	}
	src, err := b.Cache.prepareSource(ctx, req.Source, b.logf)
	if err != nil {
		return nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	patchDigests, _, err := digestFiles(req.Patches)
	if err != nil {
		return nil, &BuildError{Phase: PhasePatch, Err: err}
	}
	key, err := b.kselftestKey(req, src.Digest, patchDigests, tests)
	if err != nil {
		return nil, &BuildError{Phase: PhaseKselftest, Err: err}
	}
	dir := filepath.Join(b.Cache.KselftestDir(), key)
	if set := loadKselftests(dir); set != nil {
		fmt.Fprintf(logw, "kvmtest: kselftests %s cached\n", key)
		return set, nil
	}
	unlock, err := b.Cache.Lock("kselftest-" + key)
	if err != nil {
		return nil, &BuildError{Phase: PhaseKselftest, Err: err}
	}
	defer unlock()
	if set := loadKselftests(dir); set != nil {
		return set, nil
	}
	set, err := b.buildKselftests(ctx, req, src, patchDigests, key, tests, logw)
	if err != nil {
		return nil, err
	}
	return set, nil
}

func loadKselftests(dir string) *KselftestSet {
	data, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil
	}
	var m kselftestMeta
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	set := &KselftestSet{Key: m.Key, Dir: dir, Files: map[string]string{}, Cached: true}
	for name, rel := range m.Files {
		p := filepath.Join(dir, rel)
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		set.Files[name] = p
	}
	now := time.Now()
	os.Chtimes(dir, now, now) // used: kept by cache gc
	return set
}

func (b *Builder) buildKselftests(ctx context.Context, req Request, src *prepared, patchDigests []string, key string, tests []Kselftest, logw io.Writer) (*KselftestSet, error) {
	start := time.Now()
	tmp, err := os.MkdirTemp(b.Cache.Path("tmp"), "kselftest-")
	if err != nil {
		if err := os.MkdirAll(b.Cache.Path("tmp"), 0o755); err != nil {
			return nil, &BuildError{Phase: PhaseKselftest, Err: err}
		}
		if tmp, err = os.MkdirTemp(b.Cache.Path("tmp"), "kselftest-"); err != nil {
			return nil, &BuildError{Phase: PhaseKselftest, Err: err}
		}
	}
	defer os.RemoveAll(tmp)
	lf, err := os.Create(filepath.Join(tmp, "build.log"))
	if err != nil {
		return nil, &BuildError{Phase: PhaseKselftest, Err: err}
	}
	defer lf.Close()
	logTail := tail.New(256 << 10)
	out := io.MultiWriter(lf, logw, logTail)
	fail := func(phase string, err error) error {
		return &BuildError{Phase: phase, Err: err, FirstError: FirstError(logTail.Bytes())}
	}

	// The tree with the cell's patches: the build slot's, taken under its
	// lock, as hard links (the slot may switch series afterwards without
	// changing these), with a private copy of the selftests, whose
	// Makefiles write files next to their sources.
	tree := filepath.Join(tmp, "tree")
	if err := b.kselftestTree(ctx, req, src, patchDigests, tree, out); err != nil {
		return nil, fail(PhasePatch, err)
	}
	obj := filepath.Join(tmp, "obj")
	if err := os.MkdirAll(obj, 0o755); err != nil {
		return nil, fail(PhaseKselftest, err)
	}
	b.logf("building kselftests for %s (%s)", req.Kernel, kselftestList(tests))
	if err := b.run(ctx, tree, out, append(append([]string{"make", "-s", "-C", tree, "O=" + obj}, arch.MustByName(req.arch()).MakeVars()...), "headers")...); err != nil {
		return nil, fail(PhaseKselftest, fmt.Errorf("make headers: %w", err))
	}
	hdr := filepath.Join(obj, "usr", "include")

	stage := filepath.Join(tmp, "out")
	files := map[string]string{}
	for _, t := range tests {
		tdir := filepath.Join(tree, "tools", "testing", "selftests", filepath.FromSlash(t.Dir))
		if fi, err := os.Stat(tdir); err != nil || !fi.IsDir() {
			return nil, fail(PhaseKselftest, fmt.Errorf("tools/testing/selftests/%s: no such directory in this kernel", t.Dir))
		}
		odir := filepath.Join(stage, filepath.FromSlash(t.Dir))
		if err := os.MkdirAll(odir, 0o755); err != nil {
			return nil, fail(PhaseKselftest, err)
		}
		for _, name := range t.Names {
			dst := filepath.Join(odir, name)
			if fi, err := os.Stat(filepath.Join(tdir, name)); err == nil && fi.Mode().IsRegular() {
				fmt.Fprintf(out, "kvmtest: kselftest %s/%s: copied from the tree\n", t.Dir, name)
				if err := copyPlain(filepath.Join(tdir, name), dst); err != nil {
					return nil, fail(PhaseKselftest, err)
				}
				os.Chmod(dst, 0o755)
			} else {
				argv := append([]string{"make", "-C", tdir}, selftestArchVars(req)...)
				argv = append(argv, "OUTPUT="+odir, "KHDR_INCLUDES=-isystem "+hdr, "LDFLAGS=-static", dst)
				fmt.Fprintf(out, "kvmtest: %s\n", strings.Join(argv, " "))
				if err := b.run(ctx, tdir, out, argv...); err != nil {
					return nil, fail(PhaseKselftest, fmt.Errorf("kselftest %s/%s: %w", t.Dir, name, err))
				}
				if fi, err := os.Stat(dst); err != nil || !fi.Mode().IsRegular() {
					return nil, fail(PhaseKselftest, fmt.Errorf("kselftest %s/%s: make made no such program (is it a target of tools/testing/selftests/%s/Makefile?)", t.Dir, name, t.Dir))
				}
			}
			files[t.Dir+"/"+name] = filepath.ToSlash(filepath.Join(t.Dir, name))
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(out, "kvmtest: built kselftests %s in %.0fs\n", key, secs)
	lf.Sync()
	if err := copyPlain(filepath.Join(tmp, "build.log"), filepath.Join(stage, "build.log")); err != nil {
		return nil, fail(PhaseKselftest, err)
	}
	meta, _ := json.MarshalIndent(kselftestMeta{Key: key, Kernel: req.Kernel, Files: files, BuiltAt: time.Now().UTC(), Secs: secs}, "", "  ")
	if err := os.WriteFile(filepath.Join(stage, "meta.json"), meta, 0o644); err != nil {
		return nil, fail(PhaseKselftest, err)
	}
	dir := filepath.Join(b.Cache.KselftestDir(), key)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fail(PhaseKselftest, err)
	}
	os.RemoveAll(dir) // an incomplete earlier attempt (no meta.json)
	if err := os.Rename(stage, dir); err != nil {
		return nil, fail(PhaseKselftest, err)
	}
	set := loadKselftests(dir)
	if set == nil {
		return nil, fail(PhaseKselftest, errors.New("kselftest set unreadable right after it was stored"))
	}
	set.Cached = false
	return set, nil
}

// kselftestTree makes dst a copy of the source tree with req's patches:
// hard links into the build slot's tree, selftests copied.
func (b *Builder) kselftestTree(ctx context.Context, req Request, src *prepared, patchDigests []string, dst string, out io.Writer) error {
	skey, err := b.slotKey(req, src.slotSource(req.Kernel))
	if err != nil {
		return err
	}
	unlock, err := b.Cache.Lock(skey)
	if err != nil {
		return err
	}
	defer unlock()
	sl, err := b.openSlot(ctx, skey, src, out)
	if err != nil {
		return err
	}
	if err := sl.checkout(ctx, b, req.Patches, patchDigests, out); err != nil {
		return err
	}
	if err := b.run(ctx, filepath.Dir(dst), out, "cp", "-al", sl.src, dst); err != nil {
		if err := b.run(ctx, filepath.Dir(dst), out, "cp", "-a", "--reflink=auto", sl.src, dst); err != nil {
			return fmt.Errorf("copying the source tree: %w", err)
		}
		return nil
	}
	self := filepath.Join("tools", "testing", "selftests")
	if err := os.RemoveAll(filepath.Join(dst, self)); err != nil {
		return err
	}
	if err := b.run(ctx, dst, out, "cp", "-R", "--no-preserve=links", filepath.Join(sl.src, self), filepath.Join(dst, self)); err != nil {
		return fmt.Errorf("copying the selftests: %w", err)
	}
	return nil
}

func kselftestList(tests []Kselftest) string {
	var l []string
	for _, t := range tests {
		for _, n := range t.Names {
			l = append(l, t.Dir+"/"+n)
		}
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

// selftestArchVars are the words that make a selftest Makefile build for
// a foreign architecture (ARCH= and CROSS_COMPILE=, as the kernel's
// kselftest documentation cross-builds; lib.mk's CC is
// $(CROSS_COMPILE)gcc); none natively, where the Makefiles read uname -m.
func selftestArchVars(req Request) []string {
	a := arch.MustByName(req.arch())
	if a.Native() {
		return nil
	}
	return a.MakeVars()
}
