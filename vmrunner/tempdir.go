package vmrunner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Each machine has a private directory, PrivateDirPrefix followed by
// random digits, under Spec.TempDir: it holds the machine's Unix sockets
// and a file PIDFile naming its owner (the process that called Run), and
// is removed when Run returns. A directory whose owner was killed outright
// stays behind; StaleDirs and RemoveStale find and remove those.
const (
	PrivateDirPrefix = "kvmtest-vm-"
	PIDFile          = "pid"
	// StaleAge is how old a private directory without a readable owner
	// (no pid file, or one that does not hold a pid) must be to be stale:
	// a directory is without one only between its creation and the write
	// of its pid file, or when it was made by a kvmtest that wrote none.
	StaleAge = time.Hour
)

// The sockets in the private directory.
const (
	conSock = "con.sock"
	evSock  = "ev.sock"
	qmpSock = "qmp.sock"
)

// maxSocketPath is the longest Unix socket path the kernel takes: sun_path
// is 108 bytes, its terminating NUL included.
const maxSocketPath = 107

// privateDirSlack is what the private directory and the longest socket
// name add to the parent's path at most: "/", the prefix, the ten digits
// of os.MkdirTemp's random part (a uint32), "/" and the socket's name.
const privateDirSlack = 1 + len(PrivateDirPrefix) + 10 + 1 + max(len(conSock), len(evSock), len(qmpSock))

// MaxTempDirLen is the longest Spec.TempDir (in bytes, as given, after
// filepath.Clean) whose sockets' paths fit in a Unix socket address.
const MaxTempDirLen = maxSocketPath - privateDirSlack

// tempParent is the parent a Spec.TempDir names: parent cleaned, or
// os.TempDir() when it is "".
func tempParent(parent string) string {
	if parent == "" {
		return os.TempDir()
	}
	return filepath.Clean(parent)
}

// CheckTempDir says whether parent (as Spec.TempDir; "" is os.TempDir())
// is short enough for the machine's socket paths, which are limited to
// 107 bytes: it returns nil if it is, and an error naming the directory,
// its length and the limit if not. Run refuses such a TempDir with this
// error; a caller that would rather fall back to os.TempDir() can check
// first.
func CheckTempDir(parent string) error {
	p := tempParent(parent)
	if len(p) > MaxTempDirLen {
		return fmt.Errorf("temporary directory %s is too long for the machine's sockets (%d bytes; at most %d, as Unix socket paths are limited to %d)",
			p, len(p), MaxTempDirLen, maxSocketPath)
	}
	return nil
}

// makePrivateDir creates a machine's private directory under parent (as
// Spec.TempDir), parent itself first (0700) if it does not exist, and
// writes the pid file naming this process in it. On error nothing it
// created is left behind, parent excepted.
func makePrivateDir(parent string) (string, error) {
	p := tempParent(parent)
	if err := CheckTempDir(p); err != nil {
		return "", err
	}
	if err := os.MkdirAll(p, 0o700); err != nil {
		return "", fmt.Errorf("creating the temporary directory: %w", err)
	}
	dir, err := os.MkdirTemp(p, PrivateDirPrefix)
	if err != nil {
		return "", fmt.Errorf("creating the machine's directory: %w", err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := os.WriteFile(filepath.Join(dir, PIDFile), pid, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("recording the machine's owner: %w", err)
	}
	return dir, nil
}

// StaleDirs returns the private directories (PrivateDirPrefix*, real
// directories, not symbolic links) directly under parent ("" is
// os.TempDir()) whose owner is gone: their pid file names a process that
// does not exist, or they have no pid file holding a pid and are older
// than StaleAge. A directory whose pid file cannot be read for another
// reason (another user's) is not stale. A parent that does not exist has
// none. The paths are in name order.
//
// A process is looked up by its pid in the caller's pid namespace: a pid
// reused by an unrelated process keeps a directory until that process
// ends, which errs on the side of keeping.
func StaleDirs(parent string) ([]string, error) {
	p := tempParent(parent)
	entries, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for stale machine directories: %w", err)
	}
	var stale []string
	now := time.Now()
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), PrivateDirPrefix) {
			continue
		}
		dir := filepath.Join(p, e.Name())
		if isStale(dir, now) {
			stale = append(stale, dir)
		}
	}
	return stale, nil
}

// isStale says whether the private directory dir is stale at now (see
// StaleDirs).
func isStale(dir string, now time.Time) bool {
	b, err := os.ReadFile(filepath.Join(dir, PIDFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err == nil {
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
			return !processExists(pid)
		}
	}
	info, err := os.Lstat(dir)
	return err == nil && now.Sub(info.ModTime()) > StaleAge
}

// processExists says whether a process with this pid (> 0) exists, ours
// or another user's.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// RemoveStale removes the directories StaleDirs(parent) returns and says
// which it removed. It goes on past a directory it cannot remove and
// returns the errors joined.
func RemoveStale(parent string) (removed []string, err error) {
	dirs, err := StaleDirs(parent)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("removing stale machine directory: %w", err))
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}
