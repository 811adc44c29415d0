package builder

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive flock(2) on locks/NAME.lock, waiting for other
// holders (in this or another process). The returned func releases it.
// Locks die with their process, so a crashed kvmtest never wedges the cache.
func (c *Cache) Lock(name string) (unlock func(), err error) {
	return c.LockWaiting(name, "", nil)
}

// LockWaiting is Lock that says when it has to wait: if another holder
// has the lock, logf (when not nil) is told once "waiting for WHAT by
// pid N" (N is the holder's pid, recorded in the lock file by whoever
// holds it; "another process" when unknown) before LockWaiting blocks.
// The holder's pid is written into the lock file once it is taken.
func (c *Cache) LockWaiting(name, what string, logf func(format string, args ...any)) (unlock func(), err error) {
	p := c.Path("locks", name+".lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", p, err)
	}
	err = flockRetry(f, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		if logf != nil {
			if what == "" {
				what = name
			}
			logf("waiting for %s by %s", what, lockHolder(p))
		}
		err = flockRetry(f, unix.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	// Record the holder for those who will wait (best effort: the lock
	// holds without it).
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// flockRetry is flock(2) retried on EINTR.
func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// lockHolder names the process recorded in the lock file at path: "pid N",
// or "another process" when none is recorded (yet).
func lockHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "another process"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return "another process"
	}
	return "pid " + strconv.Itoa(pid)
}
