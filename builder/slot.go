package builder

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// A slot is where kernels of one source, config and toolchain are built,
// one after another, so that a patched variant pays only for what its
// patches change:
//
//	work/slot-KEY/src     the source: hard links to the shared pristine tree,
//	                      except the files the current patches touch, which
//	                      are private copies
//	work/slot-KEY/build   the out-of-tree build directory (O=)
//	work/slot-KEY/state.json  which patches src holds and which files they touched
//
// Switching to another patch series restores the files the previous series
// touched (fresh copies, so their mtime is newer than the objects built from
// the patched versions and make rebuilds them), then applies the new series.
// Kbuild's .cmd files see the same paths for every variant, so nothing else
// is rebuilt. The shared pristine tree is never written: a file is replaced
// by a private copy before patch(1) touches it.
type slot struct {
	dir      string
	src      string
	build    string
	pristine string
}

type slotState struct {
	// Source is the digest of the pristine tree src reflects (before
	// patches); a git slot moves from commit to commit.
	Source  string   `json:"source,omitempty"`
	Patches []string `json:"patches"` // digests of the applied patches, in order
	Touched []string `json:"touched"` // files (relative to src) that differ from pristine
	Dirty   bool     `json:"dirty"`   // a switch did not finish: restore everything touched
	// Configured says build/.config was made from this slot's config spec
	// and no Kconfig file changed since: the next variant skips kconfig.
	Configured bool `json:"configured"`
}

// slotKey names the slot for a request: everything but the patches.
func (b *Builder) slotKey(req Request, srcDigest string) (string, error) {
	r := req
	r.Patches = nil
	k, err := b.inputKey(r, srcDigest)
	if err != nil {
		return "", err
	}
	return "slot-" + k[:20], nil
}

// openSlot returns the slot named key holding src's tree (patches are
// checkout's business): linked from the pristine tree the first time, and
// for a git slot that last held another commit, switched to this one.
// The caller holds the slot's lock.
func (b *Builder) openSlot(ctx context.Context, key string, src *prepared, out io.Writer) (*slot, error) {
	s := &slot{dir: b.Cache.Path("work", key), pristine: src.Tree}
	s.src = filepath.Join(s.dir, "src")
	s.build = filepath.Join(s.dir, "build")
	if err := os.MkdirAll(s.build, 0o755); err != nil {
		return nil, err
	}
	markUsed(s.dir) // kept by cache gc
	if _, err := os.Stat(filepath.Join(s.src, "Makefile")); err == nil {
		err := s.switchSource(ctx, src, out)
		if !errors.Is(err, errSlotStale) {
			return s, err
		}
		fmt.Fprintf(out, "kvmtest: %v; starting this slot afresh\n", err)
		if err := os.RemoveAll(s.dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(s.build, 0o755); err != nil {
			return nil, err
		}
		markUsed(s.dir)
	}
	tmp := s.src + ".tmp"
	os.RemoveAll(tmp)
	fmt.Fprintf(out, "kvmtest: linking a build tree for this source and config: %s\n", s.src)
	// Hard links cost no space; a tree on another file system is copied.
	if err := b.run(ctx, s.dir, out, "cp", "-al", src.Tree, tmp); err != nil {
		os.RemoveAll(tmp)
		if err := b.run(ctx, s.dir, out, "cp", "-a", "--reflink=auto", src.Tree, tmp); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("copying the source tree: %w", err)
		}
	}
	// A worktree's .git names its repository, which may be gone or moved
	// on: without it the kernel release is the tree's own (no scm suffix
	// from scripts/setlocalversion), the same whichever run built it.
	// (For a local tree .git is a directory of hard links: removing them
	// leaves the repository's own files alone.)
	if err := os.RemoveAll(filepath.Join(tmp, ".git")); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, s.src); err != nil {
		return nil, err
	}
	return s, s.saveState(slotState{Source: src.Digest})
}

// errSlotStale says a slot's tree cannot be switched to the wanted source
// and must be made again.
var errSlotStale = errors.New("slot tree stale")

// switchSource moves a git slot from the commit it holds to src's: the
// files that differ between the two commits join the touched set and the slot is marked dirty, so that checkout
// restores each from the new commit's tree as a fresh copy (newer than its
// objects, so make rebuilds exactly what depends on them) before applying
// the patches. Kconfig is run again when a Kconfig file or a config
// fragment of the tree changed.
func (s *slot) switchSource(ctx context.Context, src *prepared, out io.Writer) error {
	st := s.state()
	if st.Source == src.Digest || (st.Source == "" && src.GitDir == "") {
		return nil
	}
	if src.GitDir == "" || !strings.HasPrefix(st.Source, "git-") {
		return fmt.Errorf("%w: it holds %q, want %s", errSlotStale, st.Source, src.Digest)
	}
	from, to := strings.TrimPrefix(st.Source, "git-"), strings.TrimPrefix(src.Digest, "git-")
	diff, err := gitOut(ctx, src.GitDir, "diff", "--name-only", "-z", "--no-renames", from, to, "--")
	if err != nil {
		return fmt.Errorf("%w: %v", errSlotStale, err)
	}
	var changed []string
	for _, f := range strings.Split(diff, "\x00") {
		if f != "" {
			changed = append(changed, f)
		}
	}
	all := map[string]bool{}
	for _, f := range append(st.Touched, changed...) {
		all[f] = true
	}
	configured := st.Configured
	for _, f := range changed {
		if affectsConfig(f) {
			configured = false
		}
	}
	fmt.Fprintf(out, "kvmtest: slot switch: commit %.12s -> %.12s: %d file(s) differ\n", from, to, len(changed))
	return s.saveState(slotState{Source: src.Digest, Patches: st.Patches, Touched: sortedKeys(all), Dirty: true, Configured: configured})
}

// affectsConfig says whether a change to the file at rel can change what
// kconfig makes of the same config spec.
func affectsConfig(rel string) bool {
	return strings.HasPrefix(filepath.Base(rel), "Kconfig") ||
		strings.HasPrefix(rel, "scripts/kconfig/") ||
		strings.Contains("/"+rel, "/configs/")
}

func (s *slot) state() slotState {
	var st slotState
	b, err := os.ReadFile(filepath.Join(s.dir, "state.json"))
	if err == nil {
		json.Unmarshal(b, &st)
	}
	return st
}

func (s *slot) saveState(st slotState) error {
	b, _ := json.Marshal(st)
	return writeFileAtomic(filepath.Join(s.dir, "state.json"), b)
}

// checkout makes src hold the pristine tree plus patches (in order).
func (s *slot) checkout(ctx context.Context, b *Builder, patches, digests []string, out io.Writer) error {
	st := s.state()
	if !st.Dirty && equalStrings(st.Patches, digests) {
		return nil
	}
	touched := map[string]bool{}
	for _, f := range st.Touched {
		touched[f] = true
	}
	var next []string
	for _, p := range patches {
		files, err := patchFiles(p)
		if err != nil {
			return err
		}
		next = append(next, files...)
	}
	// Record the union before changing anything: an interrupted switch is
	// then repaired by the next one.
	all := map[string]bool{}
	for f := range touched {
		all[f] = true
	}
	for _, f := range next {
		all[f] = true
	}
	configured := st.Configured
	for f := range all {
		if affectsConfig(f) {
			configured = false
		}
	}
	if err := s.saveState(slotState{Source: st.Source, Touched: sortedKeys(all), Dirty: true}); err != nil {
		return err
	}
	// Say what the switch changes: make rebuilds what depends on these
	// files, so a restored header explains a larger rebuild.
	restored := sortedKeys(touched)
	if len(restored) > 20 { // a commit switch: the count says enough
		restored = append(restored[:20:20], "…")
	}
	fmt.Fprintf(out, "kvmtest: slot switch: restoring %d file(s) from the pristine tree [%s]; patching [%s]\n",
		len(touched), strings.Join(restored, " "), strings.Join(next, " "))
	for f := range touched {
		if err := s.restore(f); err != nil {
			return err
		}
	}
	for _, f := range next {
		if err := s.privatize(f); err != nil {
			return err
		}
	}
	for _, p := range patches {
		if err := applyPatch(ctx, b, s.src, p, s.pristine, out); err != nil {
			return err
		}
	}
	keep := map[string]bool{}
	for _, f := range next {
		keep[f] = true
	}
	return s.saveState(slotState{Source: st.Source, Patches: digests, Touched: sortedKeys(keep), Configured: configured})
}

// setConfigured records that build/.config is current.
func (s *slot) setConfigured(v bool) error {
	st := s.state()
	st.Configured = v
	return s.saveState(st)
}

// restore puts back the pristine version of rel as a fresh copy (new
// mtime), or removes it when the pristine tree has no such file.
func (s *slot) restore(rel string) error {
	dst := filepath.Join(s.src, rel)
	os.Remove(dst)
	os.Remove(dst + ".orig")
	os.Remove(dst + ".rej")
	src := filepath.Join(s.pristine, rel)
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 { // a commit may change a link
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	return copyPlain(src, dst)
}

// privatize replaces a hard link to the pristine tree by a private copy,
// so patching it cannot write through to the shared tree.
func (s *slot) privatize(rel string) error {
	dst := filepath.Join(s.src, rel)
	fi, err := os.Lstat(dst)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(filepath.Dir(dst), 0o755) // a file the patch creates
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	tmp := dst + ".kvmtest-tmp"
	if err := copyPlain(dst, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func copyPlain(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

var diffHeader = regexp.MustCompile(`^(?:---|\+\+\+) (\S+)`)

// patchFiles lists the files a patch touches (paths as for patch -p1).
func patchFiles(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		m := diffHeader.FindStringSubmatch(sc.Text())
		if m == nil || m[1] == "/dev/null" {
			continue
		}
		p := m[1]
		if i := strings.IndexByte(p, '/'); i >= 0 {
			p = p[i+1:] // -p1
		}
		p = filepath.Clean(p)
		if p == "." || strings.HasPrefix(p, "..") || filepath.IsAbs(p) {
			return nil, fmt.Errorf("%s: refusing path %q outside the tree", path, m[1])
		}
		seen[p] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return sortedKeys(seen), nil
}

// PatchError describes a patch that does not apply.
type PatchError struct {
	Patch   string // the patch file
	Subject string // its Subject: line
	File    string // the file being patched when it failed
	Hunks   []string
	Repro   string // a command to reproduce by hand
	Output  string
}

func (e *PatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "patch %s", filepath.Base(e.Patch))
	if e.Subject != "" {
		fmt.Fprintf(&b, " (%s)", e.Subject)
	}
	b.WriteString(" does not apply")
	if e.File != "" {
		fmt.Fprintf(&b, ": %s", e.File)
	}
	if len(e.Hunks) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(e.Hunks, "; "))
	}
	fmt.Fprintf(&b, "\n  reproduce: %s", e.Repro)
	return b.String()
}

var (
	patchingRe = regexp.MustCompile(`^patching file (.+)$`)
	hunkRe     = regexp.MustCompile(`^(Hunk #\d+ FAILED at \d+.*)$`)
	subjectRe  = regexp.MustCompile(`^Subject: (.*)$`)
)

// applyPatch runs patch -p1 in tree and explains a failure.
func applyPatch(ctx context.Context, b *Builder, tree, p, pristine string, out io.Writer) error {
	fmt.Fprintf(out, "kvmtest: applying %s\n", p)
	var buf bytes.Buffer
	err := b.run(ctx, tree, io.MultiWriter(out, &buf), "patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-r", "-", "-i", p)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return explainPatchFailure(p, buf.String(), pristine)
}

func explainPatchFailure(p, output, pristine string) *PatchError {
	pe := &PatchError{Patch: p, Output: output,
		Repro: fmt.Sprintf("cd %s && patch -p1 --dry-run -i %s", pristine, p)}
	if data, err := os.ReadFile(p); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if m := subjectRe.FindStringSubmatch(l); m != nil {
				pe.Subject = m[1]
				break
			}
		}
	}
	var cur string
	for _, l := range strings.Split(output, "\n") {
		if m := patchingRe.FindStringSubmatch(l); m != nil {
			cur = m[1]
		}
		if m := hunkRe.FindStringSubmatch(l); m != nil {
			if pe.File == "" {
				pe.File = cur
			}
			if cur == pe.File {
				pe.Hunks = append(pe.Hunks, strings.TrimSuffix(m[1], "."))
			}
		}
		if strings.HasPrefix(l, "Reversed (or previously applied) patch detected") {
			if pe.File == "" {
				pe.File = cur
			}
			pe.Hunks = append(pe.Hunks, "already applied (or reversed)")
		}
		if strings.Contains(l, "can't find file to patch") && pe.File == "" {
			pe.File = "(file not found: wrong -p level or wrong tree)"
		}
	}
	return pe
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func digestFiles(paths []string) ([]string, string, error) {
	h := sha256.New()
	var ds []string
	for _, p := range paths {
		d, err := fileDigest(p)
		if err != nil {
			return nil, "", err
		}
		ds = append(ds, d)
		fmt.Fprintln(h, d)
	}
	return ds, hex.EncodeToString(h.Sum(nil)), nil
}
