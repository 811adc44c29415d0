package vmrunner

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Each machine has a private directory, PrivateDirPrefix followed by
// random digits, under Spec.TempDir: it holds the machine's Unix sockets
// and a file PIDFile naming its owner (the process that called Run), and
// is removed when Run returns. A directory whose owner was killed outright
// stays behind: callers give Spec.TempDir a directory the cache owns
// (builder.Cache.NewTempDir), whose garbage collection removes it with
// everything in it.
const (
	PrivateDirPrefix = "kvmtest-vm-"
	PIDFile          = "pid"
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
