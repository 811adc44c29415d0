package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runSub is the cache's directory of per-process scratch directories.
const runSub = "run"

// ownerFile, in a scratch directory made by NewTempDir, records the
// process that owns it: "PID STARTTIME" (the start time in clock ticks
// since boot, field 22 of /proc/PID/stat, so that a reused pid is not
// taken for the owner).
const ownerFile = ".owner"

// MaxSocketDir is the longest directory in which a unix socket of a
// short name (up to 12 bytes with its slash, such as "/qmp.sock") still
// fits the 108 bytes of sun_path, its terminating NUL included.
const MaxSocketDir = 108 - 1 - 12

// orphanAge is how old a scratch directory of the cache with no owner
// record must be before it is taken for the remains of a process killed
// while creating it.
const orphanAge = time.Minute

// RunDir is the directory of the scratch directories NewTempDir makes in
// the cache. It may not exist yet: NewTempDir creates it.
func (c *Cache) RunDir() string { return c.Path(runSub) }

// NewTempDir creates a private (0700) scratch directory owned by this
// process, RunDir/PREFIXPID-RANDOM, and records its owner in it. The
// caller removes it when done; one left by a process that died
// (SIGKILL) is removed by RemoveStaleTemp, which OpenCache and GC call.
//
// When maxLen > 0 and the directory's path would be longer (unix socket
// paths are bounded: see MaxSocketDir), it is made in os.TempDir() as
// kvmtest-PREFIXPID-RANDOM instead, with the same owner record, and
// RemoveStaleTemp removes it there too.
func (c *Cache) NewTempDir(prefix string, maxLen int) (string, error) {
	parent, name := c.RunDir(), prefix+strconv.Itoa(os.Getpid())+"-"
	// MkdirTemp adds up to 10 digits.
	if maxLen > 0 && len(filepath.Join(parent, name))+10 > maxLen {
		parent, name = os.TempDir(), "kvmtest-"+name
		if len(filepath.Join(parent, name))+10 > maxLen {
			return "", fmt.Errorf("no scratch directory path within %d bytes (cache %s, TMPDIR %s)", maxLen, c.Root, parent)
		}
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", parent, err)
	}
	dir, err := os.MkdirTemp(parent, name)
	if err != nil {
		return "", fmt.Errorf("creating a scratch directory: %w", err)
	}
	start, err := procStart(os.Getpid())
	if err != nil {
		start = 0 // unknown: the pid alone decides
	}
	rec := fmt.Sprintf("%d %d\n", os.Getpid(), start)
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(rec), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("recording the owner of %s: %w", dir, err)
	}
	return dir, nil
}

// RemoveStaleTemp removes the scratch directories NewTempDir made for
// processes that are gone: in RunDir, and those it made in os.TempDir().
// A directory of RunDir with no owner record is removed once older than
// a minute (its creator died making it); one in os.TempDir() without a
// record is not kvmtest's to remove. It returns what it removed, as
// run/NAME or the full path.
func (c *Cache) RemoveStaleTemp() []string {
	var removed []string
	for _, d := range []struct {
		dir, prefix string
		orphans     bool
	}{
		{c.RunDir(), "", true},
		{os.TempDir(), "kvmtest-", false},
	} {
		ents, _ := os.ReadDir(d.dir)
		for _, e := range ents {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), d.prefix) {
				continue
			}
			p := filepath.Join(d.dir, e.Name())
			if !staleTemp(p, d.orphans) {
				continue
			}
			if os.RemoveAll(p) == nil {
				if d.orphans {
					p = runSub + "/" + e.Name()
				}
				removed = append(removed, p)
			}
		}
	}
	return removed
}

// staleTemp says whether the scratch directory dir belongs to a process
// that is gone; orphans says whether one without an owner record, old
// enough, counts as stale.
func staleTemp(dir string, orphans bool) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		if !orphans || !errors.Is(err, os.ErrNotExist) {
			return false
		}
		fi, err := os.Stat(dir)
		return err == nil && time.Since(fi.ModTime()) > orphanAge
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil || pid <= 0 {
		return false // not a record of ours
	}
	return !alive(pid, start)
}

// alive says whether process pid, started at start (0: unknown), runs.
func alive(pid int, start uint64) bool {
	if got, err := procStart(pid); err == nil {
		return start == 0 || got == start
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// procStart returns the start time of process pid, in clock ticks since
// boot (field 22 of /proc/PID/stat).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold anything:
	// the fields after it start at the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
