package vmrunner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dirOfLen returns a new directory under t.TempDir() whose path is n bytes
// long.
func dirOfLen(t *testing.T, n int) string {
	t.Helper()
	base := t.TempDir()
	k := n - len(base) - 1
	if k < 1 || k > 255 {
		t.Skipf("cannot make a %d-byte path under %s", n, base)
	}
	d := filepath.Join(base, strings.Repeat("d", k))
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSocketPathLimit: the kernel takes a socket path of maxSocketPath
// bytes and refuses one byte more, so the bound Run checks is the real one.
func TestSocketPathLimit(t *testing.T) {
	for _, tt := range []struct {
		n  int
		ok bool
	}{{maxSocketPath, true}, {maxSocketPath + 1, false}} {
		path := filepath.Join(dirOfLen(t, tt.n-2), "s")
		if len(path) != tt.n {
			t.Fatalf("made a %d-byte path, want %d", len(path), tt.n)
		}
		l, err := net.Listen("unix", path)
		if l != nil {
			l.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("listen on a %d-byte path: %v, want success %v", tt.n, err, tt.ok)
		}
	}
}

// TestCheckTempDir: a TempDir is refused exactly when the longest socket
// path in the longest private directory would not fit; "" is checked as
// os.TempDir().
func TestCheckTempDir(t *testing.T) {
	// The longest name os.MkdirTemp can give: its random part is a uint32.
	worst := "/" + PrivateDirPrefix + strconv.FormatUint(1<<32-1, 10) + "/" + qmpSock
	fits := "/" + strings.Repeat("p", maxSocketPath-len(worst)-1)
	if len(fits+worst) != maxSocketPath || len(fits) != MaxTempDirLen {
		t.Fatalf("%d-byte parent gives %d-byte sockets; MaxTempDirLen is %d", len(fits), len(fits+worst), MaxTempDirLen)
	}
	tests := []struct {
		name, dir, tmpdir string
		wantErr           bool
	}{
		{"longest", fits, "/tmp", false},
		{"trailing slash cleaned", fits + "/", "/tmp", false},
		{"one byte more", fits + "q", "/tmp", true},
		{"default short", "", "/tmp", false},
		{"default too long", "", fits + "q", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TMPDIR", tt.tmpdir)
			err := CheckTempDir(tt.dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckTempDir(%q) = %v, want error %v", tt.dir, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("(%d bytes; at most %d", MaxTempDirLen+1, MaxTempDirLen)) {
				t.Errorf("error %q does not give the length and the limit", err)
			}
		})
	}
}

// TestMakePrivateDir: the private directory is made under its parent (made
// if missing), is private, and names this process as its owner; a parent
// too long is refused before anything is created, and one that fits at
// the limit takes all three sockets.
func TestMakePrivateDir(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "run", "vm")
	dir, err := makePrivateDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != parent || !strings.HasPrefix(filepath.Base(dir), PrivateDirPrefix) {
		t.Errorf("private directory %s, want %s/%s*", dir, parent, PrivateDirPrefix)
	}
	for _, d := range []string{parent, dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a 0700 directory", d, fi, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, PIDFile))
	if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file %q (%v), want %d", b, err, os.Getpid())
	}

	long := filepath.Join(dirOfLen(t, MaxTempDirLen-2), "x")
	if _, err := makePrivateDir(long + "y"); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("a %d-byte parent: %v, want too long", len(long)+1, err)
	}
	if _, err := os.Stat(long + "y"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused parent was created (%v)", err)
	}
	dir, err = makePrivateDir(long)
	if err != nil {
		t.Fatalf("a %d-byte parent: %v", len(long), err)
	}
	for _, s := range []string{conSock, evSock, qmpSock} {
		l, err := net.Listen("unix", filepath.Join(dir, s))
		if err != nil {
			t.Errorf("at the limit: %v", err)
			continue
		}
		l.Close()
	}
}

// TestRunPrivateDir: Run puts the machine's directory, with its pid file,
// under Spec.TempDir while the machine runs, and removes it on a normal
// return and on every error return; a TempDir too long is an *InfraError
// before anything is created.
func TestRunPrivateDir(t *testing.T) {
	tests := []struct {
		name, mode string
		qemu       string // "" for the fake QEMU
		long       bool
		wantErr    string
		running    bool // Run reaches the machine's booting state
	}{
		{"normal return", "bad-event", "", false, "", true},
		{"QEMU exits at start", "exit-at-start", "", false, "QEMU exited during start-up", false},
		{"QEMU cannot start", "bad-event", "no-such-qemu", false, "starting QEMU", false},
		{"TempDir too long", "bad-event", "", true, "too long", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fakeSpec(t, tt.mode)
			if tt.qemu != "" {
				spec.QEMU = filepath.Join(t.TempDir(), tt.qemu)
			}
			spec.TempDir = filepath.Join(t.TempDir(), "vm")
			if tt.long {
				spec.TempDir = filepath.Join(dirOfLen(t, MaxTempDirLen-1), "vm")
			}
			var during []string
			spec.OnState = func(state string) {
				if state != "booting" {
					return
				}
				dirs, _ := filepath.Glob(filepath.Join(spec.TempDir, PrivateDirPrefix+"*"))
				for _, d := range dirs {
					b, _ := os.ReadFile(filepath.Join(d, PIDFile))
					during = append(during, strings.TrimSpace(string(b)))
				}
			}
			_, err := Run(context.Background(), spec)
			var ie *InfraError
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (!errors.As(err, &ie) || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Run: %v, want %q", err, tt.wantErr)
			}
			if tt.running && !slices.Equal(during, []string{strconv.Itoa(os.Getpid())}) {
				t.Errorf("while running, pid files under TempDir: %q; want one with %d", during, os.Getpid())
			}
			entries, err := os.ReadDir(spec.TempDir)
			if tt.long {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("refused TempDir exists (%v)", err)
				}
				return
			}
			if err != nil || len(entries) != 0 {
				t.Errorf("after Run, TempDir holds %v (%v); want it empty", entries, err)
			}
		})
	}
}
