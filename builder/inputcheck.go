package builder

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"unicode/utf8"
)

// The checks of a kernel source the matrix loader runs before anything is
// built (matrices.SourceChecker): they are here because they open
// archives and run tar and git, which package matrices never does. Each
// returns a phrase that follows the name of what it checked
// ("not a tarball: …", "no commit, branch or tag …").

// compressions are the magic numbers tar reads through, and whether the
// end of such a stream can be told from its last bytes.
var compressions = []struct {
	name  string
	magic []byte
}{
	{"gzip", []byte{0x1f, 0x8b}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{"bzip2", []byte("BZh")},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{"lz4", []byte{0x04, 0x22, 0x4d, 0x18}},
	{"lzip", []byte("LZIP")},
}

// CheckTarball reports whether path is a tar archive that tar can read,
// compressed or not, quickly (it does not decompress the whole archive):
// the file's magic number must be a tar header or a compression tar
// reads; an xz or bzip2 stream must have its end (a truncated download
// does not); and tar must list its first member. A gzip, zstd or lz4
// archive cut short after its first member passes and fails when
// extracted. Results are cached for the process by path, size and mtime.
func CheckTarball(path string) error {
	_, err := cachedMakefile("tarcheck\x00"+path+statKey(path), func() ([]byte, error) {
		return nil, checkTarball(path)
	})
	return err
}

func checkTarball(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(fh, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	head = head[:n]
	comp := ""
	for _, c := range compressions {
		if bytes.HasPrefix(head, c.magic) {
			comp = c.name
		}
	}
	if comp == "" && !(n >= 262 && string(head[257:262]) == "ustar") {
		return fmt.Errorf("not a tarball: neither a tar archive nor compressed with %s (%s)", compressionNames(), startsWith(head))
	}
	if err := checkStreamEnd(fh, comp); err != nil {
		return err
	}
	return tarListsMember(path)
}

func compressionNames() string {
	var s []string
	for _, c := range compressions {
		s = append(s, c.name)
	}
	return strings.Join(s, ", ")
}

// startsWith describes the first bytes of a file that is not a tarball.
func startsWith(head []byte) string {
	if len(head) == 0 {
		return "it is empty"
	}
	h := head[:min(len(head), 40)]
	if utf8.Valid(head) && !bytes.ContainsRune(head, 0) {
		line, _, _ := strings.Cut(string(h), "\n")
		return fmt.Sprintf("it is a text file starting %q", line)
	}
	return fmt.Sprintf("it starts with the bytes % x", h[:min(len(h), 8)])
}

// checkStreamEnd checks that an xz or bzip2 stream ends: an xz stream
// ends with the footer magic "YZ" (then zero padding), a bzip2 stream
// with its 48-bit end-of-stream marker and CRC.
func checkStreamEnd(fh *os.File, comp string) error {
	if comp != "xz" && comp != "bzip2" {
		return nil
	}
	fi, err := fh.Stat()
	if err != nil {
		return err
	}
	tail := make([]byte, min(fi.Size(), 4096))
	if _, err := fh.ReadAt(tail, fi.Size()-int64(len(tail))); err != nil {
		return err
	}
	ok := false
	switch comp {
	case "xz":
		t := bytes.TrimRight(tail, "\x00")
		ok = bytes.HasSuffix(t, []byte("YZ"))
	case "bzip2":
		ok = hasBzip2End(tail)
	}
	if !ok {
		return fmt.Errorf("truncated: the %s stream has no end (an interrupted download or copy?)", comp)
	}
	return nil
}

// hasBzip2End reports whether the last bytes of a bzip2 file hold its
// end-of-stream marker 0x177245385090, which is bit-aligned and followed
// by a 32-bit CRC and at most 7 bits of padding.
func hasBzip2End(tail []byte) bool {
	const marker = 0x177245385090
	t := tail[max(len(tail)-11, 0):]
	var bits uint64
	total := len(t) * 8
	for pad := 0; pad < 8; pad++ {
		end := total - pad - 32 // the bit after the marker
		start := end - 48
		if start < 0 {
			break
		}
		bits = 0
		for i := start; i < end; i++ {
			bits = bits<<1 | uint64(t[i/8]>>(7-i%8)&1)
		}
		if bits == marker {
			return true
		}
	}
	return false
}

// tarListsMember runs tar -tf and stops it after the first member name.
func tarListsMember(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), versionReadTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tar", "-tf", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	_, rerr := bufio.NewReader(out).ReadString('\n')
	if rerr == nil {
		cancel() // one member is enough
		cmd.Wait()
		return nil
	}
	werr := cmd.Wait()
	msg := strings.TrimSpace(stderr.String())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	switch {
	case msg != "":
		return fmt.Errorf("not a tarball: %s", msg)
	case werr != nil:
		return fmt.Errorf("not a tarball: tar: %v", werr)
	}
	return errors.New("not a tarball: tar lists no member")
}

var gitChecks sync.Map // "repo\x00ref" -> error (nil when good)

// CheckGitRepo reports whether repo, a local directory, is a git
// repository (or in one) as the builder will use it (git rev-parse
// --absolute-git-dir).
func CheckGitRepo(repo string) error {
	return cachedGit(repo, "", func(ctx context.Context) error {
		if _, err := gitOut(ctx, repo, "rev-parse", "--absolute-git-dir"); err != nil {
			return errors.New("not a git repository")
		}
		return nil
	})
}

// CheckGitRef reports whether ref names a commit (a branch, tag or
// commit hash) of the local repository repo, as the builder resolves it.
func CheckGitRef(repo, ref string) error {
	return cachedGit(repo, ref, func(ctx context.Context) error {
		if _, err := gitOut(ctx, repo, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err != nil {
			return fmt.Errorf("no commit, branch or tag %q", ref)
		}
		return nil
	})
}

func cachedGit(repo, ref string, check func(context.Context) error) error {
	key := repo + "\x00" + ref
	if v, ok := gitChecks.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), versionReadTimeout)
	defer cancel()
	err := check(ctx)
	if ctx.Err() == nil {
		gitChecks.Store(key, err)
	}
	return err
}
