package builder

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLockWaitingNamesTheHolder(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []string
	logf := func(format string, args ...any) {
		mu.Lock()
		logged = append(logged, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// Free: taken at once, nothing said.
	unlock, err := c.LockWaiting("input-k", "the build of 6.12", logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 0 {
		t.Fatalf("an uncontended lock logged %q", logged)
	}
	// Held: the second locker says who it waits for, once, then gets it
	// when the first lets go.
	got := make(chan error)
	go func() {
		u, err := c.LockWaiting("input-k", "the build of 6.12", logf)
		if err == nil {
			u()
		}
		got <- err
	}()
	want := fmt.Sprintf("waiting for the build of 6.12 by pid %d", os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(logged)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-got:
		t.Fatalf("the second locker did not wait (err %v)", err)
	default:
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || logged[0] != want {
		t.Fatalf("logged %q, want [%q]", logged, want)
	}
}

func TestLockHolderUnknown(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"", "another process"},
		{"garbage\n", "another process"},
		{"4242\n", "pid 4242"},
	} {
		p := dir + "/x.lock"
		os.WriteFile(p, []byte(tc.content), 0o644)
		if got := lockHolder(p); got != tc.want {
			t.Errorf("lockHolder(%q) = %q, want %q", tc.content, got, tc.want)
		}
	}
	if got := lockHolder(dir + "/none.lock"); !strings.Contains(got, "another") {
		t.Errorf("missing lock file: %q", got)
	}
}
