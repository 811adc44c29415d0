package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// SourceMakefile returns the top-level Makefile of a kernel source, without
// preparing the source: DIR/Makefile for a path, the Makefile member of a
// tarball (one directory level deep, as kernel tarballs have it, or at the
// top), or `git show REF:Makefile` for a local git repository (a remote one
// is refused: it would have to be fetched). Results are cached for the life
// of the process, keyed by path, size and mtime for files and by
// repository and ref for git. It is the reader the matrix loader is given
// (matrices.MakefileReader) to learn an undeclared kernel version.
func SourceMakefile(src Source) ([]byte, error) {
	switch {
	case src.Path != "":
		mk := src.Path + "/Makefile"
		return cachedMakefile("path\x00"+mk+statKey(mk), func() ([]byte, error) {
			return os.ReadFile(mk)
		})
	case src.Tarball != "":
		return cachedMakefile("tar\x00"+src.Tarball+statKey(src.Tarball), func() ([]byte, error) {
			return tarballMakefile(src.Tarball)
		})
	case src.GitRepo != "":
		if isURL(src.GitRepo) {
			return nil, fmt.Errorf("cannot read the Makefile of remote repository %s without fetching it", src.GitRepo)
		}
		return cachedMakefile("git\x00"+src.GitRepo+"\x00"+src.GitRef, func() ([]byte, error) {
			return runOutput("git", "-C", src.GitRepo, "show", src.GitRef+":Makefile")
		})
	}
	if src.Prebuilt() {
		return nil, fmt.Errorf("%s has no source Makefile: its release is read from the image", src)
	}
	return nil, errors.New("kernel has no source")
}

// tarballMakefile extracts the first */Makefile of a tarball, or its
// top-level Makefile when it has no top directory.
func tarballMakefile(tarball string) ([]byte, error) {
	out, err := runOutput("tar", "-xOf", tarball, "--wildcards", "--no-wildcards-match-slash", "--occurrence=1", "*/Makefile")
	if err == nil && len(out) > 0 {
		return out, nil
	}
	if err != nil && !strings.Contains(err.Error(), "Not found in archive") {
		return nil, err
	}
	// A tarball without a top directory.
	out, err = runOutput("tar", "-xOf", tarball, "--occurrence=1", "Makefile")
	if err == nil && len(out) > 0 {
		return out, nil
	}
	return nil, errors.New("no top-level Makefile in the tarball")
}

var makefileCache struct {
	sync.Mutex
	m map[string][]byte
}

// cachedMakefile returns the cached Makefile under key, or reads, caches
// and returns it. A failed read is not cached.
func cachedMakefile(key string, read func() ([]byte, error)) ([]byte, error) {
	makefileCache.Lock()
	data, ok := makefileCache.m[key]
	makefileCache.Unlock()
	if ok {
		return data, nil
	}
	data, err := read()
	if err != nil {
		return nil, err
	}
	makefileCache.Lock()
	if makefileCache.m == nil {
		makefileCache.m = map[string][]byte{}
	}
	makefileCache.m[key] = data
	makefileCache.Unlock()
	return data, nil
}

// statKey identifies a file's content cheaply: its size and mtime ("" when
// it cannot be stat'ed, so the read reports the problem).
func statKey(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("\x00%d\x00%d", fi.Size(), fi.ModTime().UnixNano())
}

// versionReadTimeout bounds every command run to read a Makefile.
const versionReadTimeout = 2 * time.Minute

// runOutput runs a command and returns its stdout; its error carries the
// first line of stderr.
func runOutput(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), versionReadTimeout)
	defer cancel()
	return runOutputCtx(ctx, name, args...)
}

// runOutputCtx is runOutput under ctx.
func runOutputCtx(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			return nil, fmt.Errorf("%s: %v: %s", name, err, msg)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return out, nil
}
