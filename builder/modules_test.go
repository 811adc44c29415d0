package builder

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDepmodPath(t *testing.T) {
	sbin := t.TempDir()
	defer func(d []string) { sbinDirs = d }(sbinDirs)
	sbinDirs = []string{sbin}
	t.Setenv("PATH", t.TempDir())
	if _, err := depmodPath(); !errors.Is(err, errNoDepmod) || !strings.Contains(err.Error(), "install kmod") {
		t.Errorf("no depmod anywhere: %v, want errNoDepmod naming kmod", err)
	}
	want := writeFile(t, sbin, "depmod", "#!/bin/sh\n")
	os.Chmod(want, 0o755)
	if got, err := depmodPath(); err != nil || got != want {
		t.Errorf("depmodPath = %q, %v; want %q", got, err, want)
	}
}

// fakeMake is a make that records its arguments, one call a line, and for
// modules_install writes a modules tree (with modules.dep and a build link)
// under INSTALL_MOD_PATH.
const fakeMake = `#!/bin/sh
echo "$*" >> "$MAKE_LOG"
for a; do
	case $a in INSTALL_MOD_PATH=*) root=${a#INSTALL_MOD_PATH=} ;; esac
done
case " $* " in *" modules_install "*)
	d=$root/lib/modules/6.12.118
	mkdir -p $d/kernel/drivers/misc/lkdtm
	echo lkdtm > $d/kernel/drivers/misc/lkdtm/lkdtm.ko
	echo "kernel/drivers/misc/lkdtm/lkdtm.ko:" > $d/modules.dep
	: > $d/modules.order
	ln -s /nonexistent/build $d/build
esac
`

// TestBuildModules runs buildModules with a fake make: the two make
// calls (argv lists with the build's make variables), and the installed
// tree as artifact files, the build link left out.
func TestBuildModules(t *testing.T) {
	bin := t.TempDir()
	os.Chmod(writeFile(t, bin, "make", fakeMake), 0o755)
	log := filepath.Join(t.TempDir(), "make.log")
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	t.Setenv("MAKE_LOG", log)
	b := testBuilder(t)
	req := Request{Kernel: "k"}
	files, scratch, err := b.buildModules(context.Background(), req, "/src", "/work", "/usr/sbin/depmod", 3, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(scratch)
	calls, _ := os.ReadFile(log)
	mk := strings.Join(b.makeArgs(req, "/src", "/work")[1:], " ") + " DEPMOD=/usr/sbin/depmod"
	want := mk + " -j3 modules\n" + mk + " modules_install INSTALL_MOD_PATH=" + scratch + " INSTALL_MOD_STRIP=1\n"
	if string(calls) != want {
		t.Errorf("make calls:\n%s\nwant:\n%s", calls, want)
	}
	var names []string
	for n, p := range files {
		names = append(names, n)
		if !strings.HasPrefix(p, scratch) {
			t.Errorf("%s from %s, outside the scratch directory", n, p)
		}
	}
	slices.Sort(names)
	if got, want := strings.Join(names, " "), "modules/6.12.118/kernel/drivers/misc/lkdtm/lkdtm.ko modules/6.12.118/modules.dep modules/6.12.118/modules.order"; got != want {
		t.Errorf("files %s\nwant  %s", got, want)
	}
	// The tree stores as an artifact's modules.
	files["bzImage"] = writeFile(t, t.TempDir(), "bzImage", "k")
	files["config"] = writeFile(t, t.TempDir(), "config", modConfig)
	a, err := b.Cache.StoreArtifact(Meta{Key: "k1"}, files)
	if err != nil {
		t.Fatal(err)
	}
	if a.Modules != filepath.Join(a.Dir, "modules", "6.12.118") {
		t.Errorf("Modules = %q", a.Modules)
	}
}

func TestModuleFilesNeedsModulesDep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "6.12.118")
	os.MkdirAll(dir, 0o755)
	writeFile(t, dir, "modules.order", "")
	if _, err := moduleFiles(dir); err == nil || !strings.Contains(err.Error(), "no modules.dep") {
		t.Errorf("moduleFiles = %v, want no modules.dep", err)
	}
}
