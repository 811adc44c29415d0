package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// writeModuleTree writes a fake release directory as depmod leaves it:
// virtiofs needs fuse; 9p needs 9pnet_virtio, which needs 9pnet;
// overlay is built in; fuse is also known by its alias fs-fuse.
func writeModuleTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "6.1.0-50-cloud-amd64")
	files := map[string]string{
		"modules.dep": "kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko\n" +
			"kernel/fs/fuse/fuse.ko:\n" +
			"kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet_virtio.ko.xz kernel/net/9p/9pnet.ko.xz\n" +
			"kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz\n" +
			"kernel/net/9p/9pnet.ko.xz:\n" +
			"kernel/drivers/misc/lkdtm/lkdtm.ko:\n",
		"modules.builtin": "kernel/fs/overlayfs/overlay.ko\n",
		"modules.alias":   "# Aliases extracted from modules themselves.\nalias fs-fuse fuse\nalias char-major-10-229 fuse\nalias fs-virtiofs virtiofs\n",
	}
	for name, text := range files {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestModuleProbe(t *testing.T) {
	dir := writeModuleTree(t)
	idx, err := loadModuleIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, params string
		want         []string // files loaded, in order
		wantParams   string   // of the last
		wantErr      string
	}{
		{name: "virtiofs", want: []string{"kernel/fs/fuse/fuse.ko", "kernel/fs/fuse/virtiofs.ko"}},
		{name: "9p", want: []string{"kernel/net/9p/9pnet.ko.xz", "kernel/net/9p/9pnet_virtio.ko.xz", "kernel/fs/9p/9p.ko.xz"}},
		{name: "9pnet-virtio", want: []string{"kernel/net/9p/9pnet.ko.xz", "kernel/net/9p/9pnet_virtio.ko.xz"}},
		{name: "overlay"},
		{name: "fs-virtiofs", want: []string{"kernel/fs/fuse/fuse.ko", "kernel/fs/fuse/virtiofs.ko"}},
		{name: "char-major-10-229", want: []string{"kernel/fs/fuse/fuse.ko"}},
		{name: "lkdtm", params: "cpoint_name=DIRECT", want: []string{"kernel/drivers/misc/lkdtm/lkdtm.ko"}, wantParams: "cpoint_name=DIRECT"},
		{name: "nosuch", wantErr: "module nosuch not found in " + dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var lastParams string
			files, err := idx.probe(tc.name, tc.params, func(file, params string) error {
				rel, _ := filepath.Rel(dir, file)
				got = append(got, rel)
				lastParams = params
				return nil
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(files, tc.want) {
				t.Errorf("loaded %q (returned %q), want %q", got, files, tc.want)
			}
			if lastParams != tc.wantParams {
				t.Errorf("params %q, want %q", lastParams, tc.wantParams)
			}
		})
	}
}

func TestModuleProbeStopsAtAFailedDependency(t *testing.T) {
	idx, err := loadModuleIndex(writeModuleTree(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_, err = idx.probe("9p", "", func(file, _ string) error {
		got = append(got, filepath.Base(file))
		if strings.Contains(file, "9pnet_virtio") {
			return os.ErrPermission
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "loading 9pnet_virtio (needed by 9p)") {
		t.Errorf("error %v, want the dependency named", err)
	}
	if !slices.Equal(got, []string{"9pnet.ko.xz", "9pnet_virtio.ko.xz"}) {
		t.Errorf("loaded %q: 9p itself must not be tried", got)
	}
}

func TestLoadModuleIndexWithoutDepmod(t *testing.T) {
	_, err := loadModuleIndex(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "depmod has not run") {
		t.Errorf("error %v, want depmod named", err)
	}
}

func TestModprobeMain(t *testing.T) {
	dir := writeModuleTree(t)
	// modprobe reads modulesRoot/$(uname -r): make that the fake tree.
	root := t.TempDir()
	if err := os.Symlink(dir, filepath.Join(root, kernelRelease())); err != nil {
		t.Fatal(err)
	}
	oldRoot, oldLoader := modulesRoot, moduleLoader
	t.Cleanup(func() { modulesRoot, moduleLoader = oldRoot, oldLoader })
	modulesRoot = root
	var loaded []string
	moduleLoader = func(file, params string) error {
		loaded = append(loaded, filepath.Base(file)+"["+params+"]")
		return nil
	}
	for _, tc := range []struct {
		args        []string
		code        int
		loaded      []string
		out, errOut string
	}{
		{args: []string{"-v", "virtiofs"}, loaded: []string{"fuse.ko[]", "virtiofs.ko[]"}, out: "insmod " + filepath.Join(root, kernelRelease(), "kernel/fs/fuse/fuse.ko")},
		{args: []string{"lkdtm", "a=1", "b=2"}, loaded: []string{"lkdtm.ko[a=1 b=2]"}},
		{args: []string{"-a", "fuse", "lkdtm"}, loaded: []string{"fuse.ko[]", "lkdtm.ko[]"}},
		{args: []string{"-q", "--", "fs-nosuch"}, code: 1},
		{args: []string{"nosuch"}, code: 1, errOut: "module nosuch not found"},
		{args: []string{"-n", "virtiofs"}},
		{args: []string{"-r", "fuse"}, code: 2, errOut: "not supported"},
		{args: nil, code: 2, errOut: "no module named"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			loaded = nil
			var out, errOut bytes.Buffer
			code := modprobeMain(tc.args, &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			if !slices.Equal(loaded, tc.loaded) {
				t.Errorf("loaded %q, want %q", loaded, tc.loaded)
			}
			if !strings.Contains(out.String(), tc.out) || (tc.errOut == "" && errOut.Len() > 0) || !strings.Contains(errOut.String(), tc.errOut) {
				t.Errorf("stdout %q stderr %q, want %q and %q", out.String(), errOut.String(), tc.out, tc.errOut)
			}
		})
	}
}

// TestForSuite checks what a suite gets before it starts: the initramfs
// instead of the shared root when it asks, its workdir made inside the
// root (a link in the root cannot send it out), its modules loaded, and
// a clear error when they cannot be.
func TestForSuite(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	// /run in the root leads to /var/run, by an absolute link: inside
	// the root that is root/var/run, never the host's /var/run.
	if err := os.MkdirAll(filepath.Join(root, "var", "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/var/run", filepath.Join(root, "run")); err != nil {
		t.Fatal(err)
	}
	// ..and a link that climbs: it stays in the root too.
	if err := os.Symlink("../../../../"+outside, filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	idx, err := loadModuleIndex(writeModuleTree(t))
	if err != nil {
		t.Fatal(err)
	}
	var loaded []string
	r := &runner{dir: "/tmp", root: root, modules: idx, load: func(file, _ string) error {
		loaded = append(loaded, filepath.Base(file))
		if strings.Contains(file, "lkdtm") {
			return os.ErrPermission
		}
		return nil
	}}
	for _, tc := range []struct {
		name      string
		r         *runner
		s         proto.Suite
		wantRoot  string
		wantDir   string
		made      string // a directory that must exist afterwards
		wantMods  []string
		wantError string
	}{
		{name: "default", r: r, s: proto.Suite{Name: "a"}, wantRoot: root, wantDir: "/tmp"},
		{name: "workdir through a link", r: r, s: proto.Suite{Name: "b", Workdir: "/run/kvmtest/work/b"}, wantRoot: root, wantDir: "/run/kvmtest/work/b", made: filepath.Join(root, "var/run/kvmtest/work/b")},
		// A link to a directory missing in the root: mkdir -p fails too.
		{name: "workdir through a climbing link", r: r, s: proto.Suite{Name: "c", Workdir: "/up/w"}, wantError: "making the suite's workdir /up/w"},
		{name: "initramfs", r: &runner{dir: "/tmp", root: root, rootErr: "no root"}, s: proto.Suite{Name: "d", Initramfs: true}, wantDir: "/tmp"},
		{name: "root error", r: &runner{dir: "/tmp", root: root, rootErr: "no root"}, s: proto.Suite{Name: "e"}, wantError: "no root"},
		{name: "modules", r: r, s: proto.Suite{Name: "f", Modules: []string{"virtiofs", "overlay"}}, wantRoot: root, wantDir: "/tmp", wantMods: []string{"fuse.ko", "virtiofs.ko"}},
		{name: "module fails", r: r, s: proto.Suite{Name: "g", Modules: []string{"lkdtm"}}, wantMods: []string{"lkdtm.ko"}, wantError: "suite needs modules lkdtm: loading lkdtm: permission denied"},
		{name: "module missing", r: r, s: proto.Suite{Name: "h", Modules: []string{"nosuch"}}, wantError: "module nosuch not found"},
		{name: "no modules at all", r: &runner{dir: "/tmp"}, s: proto.Suite{Name: "i", Modules: []string{"fuse"}}, wantError: "the kernel has no modules in the initramfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded = nil
			sr, err := tc.r.forSuite(tc.s)
			if !slices.Equal(loaded, tc.wantMods) {
				t.Errorf("loaded %q, want %q", loaded, tc.wantMods)
			}
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sr.root != tc.wantRoot || sr.dir != tc.wantDir {
				t.Errorf("root %q dir %q, want %q %q", sr.root, sr.dir, tc.wantRoot, tc.wantDir)
			}
			if tc.made != "" {
				if fi, err := os.Stat(tc.made); err != nil || !fi.IsDir() {
					t.Errorf("%s not made: %v", tc.made, err)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("a directory was made outside the root: %v", entries)
	}
}
