package builder

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSelftestTree is a "kernel tree" with just enough for
// BuildKselftests: a top Makefile whose headers target writes a UAPI
// header, and a selftests directory with a C program that includes it and
// a script.
func fakeSelftestTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "linux")
	st := filepath.Join(dir, "tools", "testing", "selftests", "fake")
	for _, d := range []string{st, filepath.Join(dir, "scripts", "kconfig"), filepath.Join(dir, "include", "uapi")} {
		os.MkdirAll(d, 0o755)
	}
	writeFile(t, dir, "Kconfig", "")
	writeFile(t, filepath.Join(dir, "scripts", "kconfig"), "merge_config.sh", "")
	writeFile(t, filepath.Join(dir, "include", "uapi"), "fake.h", "#define FAKE_MAGIC 42\n")
	writeFile(t, dir, "Makefile", "headers:\n\tmkdir -p $(O)/usr/include/linux\n\tcp include/uapi/fake.h $(O)/usr/include/linux/fake.h\n")
	writeFile(t, st, "Makefile", "$(OUTPUT)/%: %.c\n\t$(CC) $(KHDR_INCLUDES) $(LDFLAGS) -o $@ $<\n\techo generated > local_config.h\n")
	writeFile(t, st, "hello.c", "#include <stdio.h>\n#include <linux/fake.h>\nint main(void) { printf(\"ok 1 magic %d\\n\", FAKE_MAGIC); return 0; }\n")
	writeFile(t, st, "check.sh", "#!/bin/sh\n./hello\n")
	return dir
}

const selftestPatch = `--- a/tools/testing/selftests/fake/hello.c
+++ b/tools/testing/selftests/fake/hello.c
@@ -1,3 +1,3 @@
 #include <stdio.h>
 #include <linux/fake.h>
-int main(void) { printf("ok 1 magic %d\n", FAKE_MAGIC); return 0; }
+int main(void) { printf("ok 1 patched magic %d\n", FAKE_MAGIC); return 0; }
`

func TestBuildKselftests(t *testing.T) {
	for _, tool := range []string{"make", "cc", "patch"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	b := testBuilder(t)
	tree := fakeSelftestTree(t)
	patch := writeFile(t, t.TempDir(), "0001-patch.patch", selftestPatch)
	ctx := context.Background()
	tests := []Kselftest{{Dir: "fake", Names: []string{"hello", "check.sh"}}}
	cases := []struct {
		name    string
		patches []string
		want    string
	}{
		{"base", nil, "ok 1 magic 42\n"},
		{"patched", []string{patch}, "ok 1 patched magic 42\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := Request{Kernel: "fake", Source: Source{Path: tree}, Patches: c.patches, Config: ConfigSpec{Base: "tinyconfig"}}
			set, err := b.BuildKselftests(ctx, req, tests)
			if err != nil {
				t.Fatal(err)
			}
			if set.Cached {
				t.Error("first build reported as cached")
			}
			out, err := exec.Command(set.Files["fake/hello"]).Output()
			if err != nil || string(out) != c.want {
				t.Errorf("hello printed %q (%v), want %q", out, err, c.want)
			}
			if s, err := os.ReadFile(set.Files["fake/check.sh"]); err != nil || !strings.HasPrefix(string(s), "#!/bin/sh") {
				t.Errorf("check.sh not copied: %q %v", s, err)
			}
			again, err := b.BuildKselftests(ctx, req, tests)
			if err != nil || !again.Cached || again.Key != set.Key {
				t.Errorf("second build: cached=%v key %s vs %s, err %v; want the cached set", again != nil && again.Cached, again.Key, set.Key, err)
			}
		})
	}
	// The Makefile wrote next to its sources: only into a private copy.
	if _, err := os.Stat(filepath.Join(tree, "tools", "testing", "selftests", "fake", "local_config.h")); err == nil {
		t.Error("the selftests build wrote into the source tree")
	}
	if s, _ := os.ReadFile(filepath.Join(tree, "tools", "testing", "selftests", "fake", "hello.c")); strings.Contains(string(s), "patched") {
		t.Error("the patch was applied to the source tree")
	}

	_, err := b.BuildKselftests(ctx, Request{Kernel: "fake", Source: Source{Path: tree}, Config: ConfigSpec{Base: "tinyconfig"}},
		[]Kselftest{{Dir: "fake", Names: []string{"missing"}}})
	var be *BuildError
	if !errors.As(err, &be) || be.Phase != PhaseKselftest || !strings.Contains(err.Error(), "kselftest fake/missing") {
		t.Errorf("missing program: %v, want a kselftest BuildError naming fake/missing", err)
	}
	_, err = b.BuildKselftests(ctx, Request{Kernel: "fake", Source: Source{Path: tree}, Config: ConfigSpec{Base: "tinyconfig"}},
		[]Kselftest{{Dir: "nodir", Names: []string{"x"}}})
	if err == nil || !strings.Contains(err.Error(), "tools/testing/selftests/nodir: no such directory") {
		t.Errorf("missing dir: %v", err)
	}
}
