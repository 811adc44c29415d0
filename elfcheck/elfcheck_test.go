package elfcheck

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildGo builds a tiny Go program into dir with the environment env
// (GOARCH, CGO_ENABLED…) and returns its path; the test is skipped when
// Go cannot build it here (a cgo build without a C compiler).
func buildGo(t *testing.T, dir, name, src string, env ...string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	srcDir := filepath.Join(dir, name+"-src")
	os.MkdirAll(srcDir, 0o755)
	os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte("module example.com/"+name+"\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(srcDir, "main.go"), []byte(src), 0o644)
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build %s here: %v\n%s", name, err, b)
	}
	return out
}

const plainMain = "package main\n\nfunc main() {}\n"

const cgoMain = "package main\n\n// int one(void) { return 1; }\nimport \"C\"\n\nfunc main() { _ = C.one() }\n"

// TestCheck: what each kind of file is told, for an x86_64 guest whose
// filesystem has /bin/sh only.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	has := func(p string) bool { return p == "/bin/sh" }
	tests := []struct {
		name   string
		path   func(t *testing.T) string
		want   string // "" = can run; else a part of the error
		interp string // for a *MissingInterpreterError: its path
	}{
		{"static go", func(t *testing.T) string {
			return buildGo(t, dir, "static", plainMain, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		}, "", ""},
		{"dynamic cgo", func(t *testing.T) string {
			if _, err := exec.LookPath("gcc"); err != nil {
				t.Skip("no gcc: no cgo build")
			}
			return buildGo(t, dir, "dynamic", cgoMain, "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
		}, "is dynamically linked (interpreter /lib64/ld-linux-x86-64.so.2); the guest's initramfs has no dynamic loader: build it static (CGO_ENABLED=0, -static)", "/lib64/ld-linux-x86-64.so.2"},
		{"arm64", func(t *testing.T) string {
			return buildGo(t, dir, "arm64", plainMain, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		}, "is an ELF program for aarch64, but the guest is x86_64", ""},
		{"386", func(t *testing.T) string {
			return buildGo(t, dir, "386", plainMain, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=386")
		}, "is an ELF program for i386, but the guest is x86_64", ""},
		{"sh script", fixture("sh.sh"), "", ""},
		{"bash script", fixture("bash.sh"), "is a script for /bin/bash (its #! line), which the guest does not have", "/bin/bash"},
		{"empty #!", fixture("empty-shebang"), "has an empty #! line", ""},
		{"relative #!", fixture("relative.sh"), `names a relative interpreter "bin/sh"`, ""},
		{"text", fixture("text.txt"), "is neither an ELF program nor a #! script", ""},
		{"empty", fixture("empty"), "is empty", ""},
		{"damaged ELF", fixture("damaged.elf"), "is a damaged ELF file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.path(t), X86_64, has)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check: %v, want an error with %q", err, tt.want)
			}
			var mi *MissingInterpreterError
			if got := errors.As(err, &mi); got != (tt.interp != "") || got && mi.Interp != tt.interp {
				t.Errorf("MissingInterpreterError %v (%+v), want interpreter %q", got, mi, tt.interp)
			}
		})
	}
}

func fixture(name string) func(*testing.T) string {
	return func(*testing.T) string { return filepath.Join("testdata", name) }
}

// TestCheckInterpreterInGuest: a dynamic program runs where its loader is
// (a suite rootfs, the hook the caller's guestHas is), and an arm64
// program runs on an aarch64 guest.
func TestCheckInterpreterInGuest(t *testing.T) {
	dir := t.TempDir()
	if _, err := exec.LookPath("gcc"); err == nil {
		dyn := buildGo(t, dir, "dynamic", cgoMain, "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
		rootfs := func(p string) bool { return p == "/lib64/ld-linux-x86-64.so.2" }
		if err := Check(dyn, X86_64, rootfs); err != nil {
			t.Errorf("dynamic program with its loader in the guest: %v", err)
		}
	}
	arm := buildGo(t, dir, "arm64", plainMain, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	a, ok := ArchByName("arm64")
	if !ok {
		t.Fatal("no arm64")
	}
	if err := Check(arm, a, nil); err != nil {
		t.Errorf("arm64 program on an aarch64 guest: %v", err)
	}
	if err := Check(filepath.Join("testdata", "sh.sh"), X86_64, nil); err == nil {
		t.Error("a script in a guest that has nothing: accepted")
	}
}
