package builder

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testRelease = "6.99.0-1-test-amd64"

// fakeImage writes an x86_64 bzImage as far as kimage reads one: a setup
// header whose version string starts with release, and a gzip payload
// holding the IKCONFIG block of config (none when config is "").
func fakeImage(t *testing.T, dir, name, release, config string) string {
	t.Helper()
	le := binary.LittleEndian
	img := make([]byte, 1024)
	img[0x1F1] = 1 // setup sectors
	copy(img[0x202:], "HdrS")
	le.PutUint16(img[0x206:], 0x020F)
	le.PutUint16(img[0x20E:], 0x100)
	copy(img[0x300:], release+" (kvmtest@kvmtest) #1 SMP\x00")
	img[0x211] = 1
	le.PutUint16(img[0x236:], 1)
	vmlinux := []byte("kernel code ")
	if config != "" {
		vmlinux = append(append(append(vmlinux, "IKCFG_ST"...), gzipped(config)...), "IKCFG_ED"...)
	}
	payload := gzipped(string(vmlinux))
	le.PutUint32(img[0x248:], 0)
	le.PutUint32(img[0x24C:], uint32(len(payload)+4))
	img = le.AppendUint32(append(img, payload...), uint32(len(vmlinux)))
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// fakeModules writes a modules tree root/RELEASE (with modules.dep when
// withDep) and returns it.
func fakeModules(t *testing.T, root, release string, withDep bool) string {
	t.Helper()
	d := filepath.Join(root, release)
	os.MkdirAll(filepath.Join(d, "kernel", "fs", "fuse"), 0o755)
	writeFile(t, d, "kernel/fs/fuse/virtiofs.ko", "virtiofs module")
	writeFile(t, d, "kernel/fs/fuse/fuse.ko", "fuse module")
	writeFile(t, d, "modules.order", "kernel/fs/fuse/fuse.ko\nkernel/fs/fuse/virtiofs.ko\n")
	writeFile(t, d, "modules.builtin", "kernel/drivers/virtio/virtio_pci.ko\n")
	if withDep {
		writeFile(t, d, "modules.dep", "kernel/fs/fuse/fuse.ko:\nkernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko\n")
	}
	os.Symlink("/usr/src/linux-headers-"+release, filepath.Join(d, "build"))
	return d
}

// fakeTools puts scripts first in PATH: depmod writes a modules.dep of the
// tree depmod -b ROOT RELEASE names, as the real one does; apt-get
// download copies $FAKE_DEB to NAME_1.0_amd64.deb and counts its calls in
// $FAKE_APT_LOG.
func fakeTools(t *testing.T, deb string) (aptLog string) {
	t.Helper()
	bin := t.TempDir()
	aptLog = filepath.Join(t.TempDir(), "apt.log")
	os.Chmod(writeFile(t, bin, "depmod", `#!/bin/sh
[ "$1" = -b ] || exit 2
cd "$2/lib/modules/$3" && find kernel -name '*.ko*' | sort | sed 's/$/:/' > modules.dep
`), 0o755)
	os.Chmod(writeFile(t, bin, "apt-get", `#!/bin/sh
echo "$*" >> "$FAKE_APT_LOG"
[ "$1" = download ] || exit 2
case $2 in linux-image-*) cp "$FAKE_DEB" "$2_1.0_amd64.deb" ;; *) echo "E: Unable to locate package $2" >&2; exit 100 ;; esac
`), 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_APT_LOG", aptLog)
	t.Setenv("FAKE_DEB", deb)
	return aptLog
}

// fakeDeb builds a linux-image .deb with dpkg-deb -b: boot/vmlinuz-R,
// boot/config-R and lib/modules/R without modules.dep, as Debian ships
// them.
func fakeDeb(t *testing.T, config string) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	writeFile(t, root, "DEBIAN/control", "Package: linux-image-"+testRelease+"\nVersion: 1.0\nArchitecture: amd64\nMaintainer: kvmtest <kvmtest@example.invalid>\nDescription: a fake kernel\n")
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	fakeImage(t, filepath.Join(root, "boot"), "vmlinuz-"+testRelease, testRelease, "")
	writeFile(t, root, "boot/config-"+testRelease, config)
	os.MkdirAll(filepath.Join(root, "lib", "modules"), 0o755)
	d := fakeModules(t, filepath.Join(root, "lib", "modules"), testRelease, false)
	os.Remove(filepath.Join(d, "build"))
	deb := filepath.Join(t.TempDir(), "linux-image-"+testRelease+"_1.0_amd64.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v: %s", err, out)
	}
	return deb
}

func buildErr(t *testing.T, err error, want string) {
	t.Helper()
	var be *BuildError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want a *BuildError containing %q", err, want)
	}
}

// TestImportImage imports an image with its modules and config: the
// artifact holds them (the modules' build link left out), a second Build
// and Lookup find it, and nothing of the source is written.
func TestImportImage(t *testing.T) {
	fakeTools(t, "")
	dir := t.TempDir()
	img := fakeImage(t, dir, "vmlinuz-"+testRelease, testRelease, "")
	cfg := writeFile(t, dir, "config-"+testRelease, modConfig)
	modRoot := t.TempDir()
	fakeModules(t, modRoot, testRelease, true)
	b := testBuilder(t)
	ctx := context.Background()
	for _, mods := range []string{modRoot, filepath.Join(modRoot, testRelease)} {
		req := Request{Kernel: "debian", Source: Source{Image: img, Config: cfg, Modules: mods}}
		var log bytes.Buffer
		req.Log = &log
		a, err := b.Build(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if a.Meta.Version != testRelease || a.Meta.Inputs["kind"] != "prebuilt" {
			t.Errorf("meta %+v", a.Meta)
		}
		if got, _ := os.ReadFile(a.Config); string(got) != modConfig {
			t.Errorf("config %q", got)
		}
		if a.Modules != filepath.Join(a.Dir, "modules", testRelease) {
			t.Errorf("Modules = %q", a.Modules)
		}
		for _, f := range []string{"modules.dep", "kernel/fs/fuse/virtiofs.ko", "modules.builtin"} {
			if _, err := os.Stat(filepath.Join(a.Modules, f)); err != nil {
				t.Errorf("modules: %v", err)
			}
		}
		if _, err := os.Lstat(filepath.Join(a.Modules, "build")); err == nil {
			t.Error("the build link was stored")
		}
		if !strings.Contains(log.String(), "importing the prebuilt kernel "+testRelease) && !strings.Contains(log.String(), "imported before") {
			t.Errorf("log:\n%s", log.String())
		}
		again, err := b.Build(ctx, req)
		if err != nil || !again.Cached || again.Key != a.Key {
			t.Errorf("second Build: %+v, %v; want the cached %s", again, err, a.Key)
		}
		if l := b.Lookup(ctx, req); l == nil || l.Key != a.Key {
			t.Errorf("Lookup = %+v, want %s", l, a.Key)
		}
	}
	if _, err := os.Stat(filepath.Join(modRoot, testRelease, "modules.alias")); err == nil {
		t.Error("the given modules tree was written")
	}
}

// TestImportImageConfig covers the config of an image given none: the
// embedded one, or none at all.
func TestImportImageConfig(t *testing.T) {
	dir := t.TempDir()
	b := testBuilder(t)
	ctx := context.Background()
	a, err := b.Build(ctx, Request{Source: Source{Image: fakeImage(t, dir, "ikconfig", testRelease, noModConfig)}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(a.Config); string(got) != noModConfig {
		t.Errorf("embedded config: %q", got)
	}
	if a.Modules != "" {
		t.Errorf("Modules = %q, want none", a.Modules)
	}
	a, err = b.Build(ctx, Request{Source: Source{Image: fakeImage(t, dir, "bare", testRelease, "")}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Config != "" || a.Modules != "" {
		t.Errorf("no config: Config %q, Modules %q; want none", a.Config, a.Modules)
	}
	log, _ := os.ReadFile(a.Log)
	if !strings.Contains(string(log), "no config") {
		t.Errorf("import log says nothing of the config:\n%s", log)
	}
	if _, err := b.Cache.LoadArtifact(a.Key); err != nil {
		t.Errorf("LoadArtifact: %v", err)
	}
}

// TestImportModulesWithoutDep depmods a copy of a tree that has no
// modules.dep, leaving the given tree as it was.
func TestImportModulesWithoutDep(t *testing.T) {
	fakeTools(t, "")
	dir := t.TempDir()
	mods := fakeModules(t, t.TempDir(), testRelease, false)
	b := testBuilder(t)
	a, err := b.Build(context.Background(), Request{Source: Source{Image: fakeImage(t, dir, "img", testRelease, ""), Modules: mods}})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := os.ReadFile(filepath.Join(a.Modules, "modules.dep"))
	if err != nil || !strings.Contains(string(dep), "kernel/fs/fuse/virtiofs.ko:") {
		t.Errorf("modules.dep %q, %v", dep, err)
	}
	if _, err := os.Stat(filepath.Join(mods, "modules.dep")); err == nil {
		t.Error("depmod wrote into the given tree")
	}
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	img := fakeImage(t, dir, "img", testRelease, "")
	other := fakeModules(t, t.TempDir(), "6.1.0-50-cloud-amd64", true)
	two := t.TempDir()
	fakeModules(t, two, "6.1.0-50-cloud-amd64", true)
	fakeModules(t, two, "6.1.0-51-cloud-amd64", true)
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"patches", Request{Source: Source{Image: img}, Patches: []string{"a.patch"}}, "patch series cannot apply to a prebuilt kernel"},
		{"modules of another release", Request{Source: Source{Image: img, Modules: other}},
			"modules " + other + " are for 6.1.0-50-cloud-amd64, the image is " + testRelease},
		{"a modules root of another release", Request{Source: Source{Image: img, Modules: filepath.Dir(other)}},
			"modules " + filepath.Dir(other) + " are for 6.1.0-50-cloud-amd64, the image is " + testRelease},
		{"a modules root of other releases", Request{Source: Source{Image: img, Modules: two}},
			"are for 6.1.0-50-cloud-amd64, 6.1.0-51-cloud-amd64, the image is " + testRelease},
		{"not a kernel", Request{Source: Source{Image: writeFile(t, dir, "script", "#!/bin/sh\n")}}, "is not a kernel image: no bzImage header (HdrS at 0x202)"},
		{"no image", Request{Source: Source{Image: filepath.Join(dir, "missing")}}, "no such file"},
		{"bad package name", Request{Source: Source{Package: "-oAPT::x=y"}}, "not a Debian package name"},
	}
	b := testBuilder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Build(context.Background(), tt.req)
			buildErr(t, err, tt.want)
			if a := b.Lookup(context.Background(), tt.req); a != nil {
				t.Errorf("Lookup = %+v", a)
			}
		})
	}
}

// TestImportDeb imports a .deb: unpacked once into the cache, its modules
// depmod'ed, the same artifact as the image and modules it holds; and
// through Source.Package, downloaded once.
func TestImportDeb(t *testing.T) {
	deb := fakeDeb(t, modConfig)
	aptLog := fakeTools(t, deb)
	b := testBuilder(t)
	ctx := context.Background()
	a, err := b.Build(ctx, Request{Source: Source{Deb: deb}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Meta.Version != testRelease || a.Config == "" || a.Modules == "" {
		t.Fatalf("artifact %+v", a)
	}
	if _, err := os.Stat(filepath.Join(a.Modules, "modules.dep")); err != nil {
		t.Errorf("no modules.dep: %v", err)
	}
	unpacked, _ := filepath.Glob(b.Cache.Path("debs", "*", "boot"))
	if len(unpacked) != 1 {
		t.Errorf("unpacked trees: %v, want one", unpacked)
	}
	if l := b.Lookup(ctx, Request{Source: Source{Deb: deb}}); l == nil || l.Key != a.Key {
		t.Errorf("Lookup(Deb) = %+v", l)
	}

	// The files it holds, given as an image, are the same artifact.
	root := filepath.Dir(unpacked[0])
	img, err := b.Build(ctx, Request{Source: Source{Image: filepath.Join(root, "boot", "vmlinuz-"+testRelease),
		Config: filepath.Join(root, "boot", "config-"+testRelease), Modules: filepath.Join(root, "lib", "modules")}})
	if err != nil || img.Key != a.Key {
		t.Errorf("as an image: %+v, %v; want artifact %s", img, err, a.Key)
	}

	pkg := Request{Source: Source{Package: "linux-image-" + testRelease}}
	if l := b.Lookup(ctx, pkg); l != nil {
		t.Errorf("Lookup(Package) before any download = %+v", l)
	}
	for range 2 {
		p, err := b.Build(ctx, pkg)
		if err != nil || p.Key != a.Key {
			t.Fatalf("Package: %+v, %v; want artifact %s", p, err, a.Key)
		}
	}
	if calls, _ := os.ReadFile(aptLog); string(calls) != "download linux-image-"+testRelease+"\n" {
		t.Errorf("apt-get calls %q, want one download", calls)
	}
	if l := b.Lookup(ctx, pkg); l == nil || l.Key != a.Key {
		t.Errorf("Lookup(Package) = %+v", l)
	}
	_, err = b.Build(ctx, Request{Source: Source{Package: "no-such-package"}})
	buildErr(t, err, "E: Unable to locate package no-such-package")
}

func TestImportDebNotAKernel(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	writeFile(t, root, "DEBIAN/control", "Package: linux-image-cloud-amd64\nVersion: 1.0\nArchitecture: amd64\nMaintainer: kvmtest <kvmtest@example.invalid>\nDepends: linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)\nDescription: a metapackage\n")
	deb := filepath.Join(t.TempDir(), "meta.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v: %s", err, out)
	}
	_, err := testBuilder(t).Build(context.Background(), Request{Source: Source{Deb: deb}})
	buildErr(t, err, "holds no boot/vmlinuz-*: not a linux-image package (a metapackage? it depends on linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)")
}

func TestKernelCompanions(t *testing.T) {
	boot, modRoot := t.TempDir(), t.TempDir()
	img := fakeImage(t, boot, "vmlinuz-"+testRelease, testRelease, "")
	if c, m := kernelCompanions(img, modRoot); c != "" || m != "" {
		t.Errorf("with none: %q %q", c, m)
	}
	cfg := writeFile(t, boot, "config-"+testRelease, modConfig)
	mods := fakeModules(t, modRoot, testRelease, true)
	if c, m := kernelCompanions(img, modRoot); c != cfg || m != mods {
		t.Errorf("kernelCompanions = %q %q, want %q %q", c, m, cfg, mods)
	}
	// Renamed: the release read from the image still finds them.
	renamed := fakeImage(t, boot, "bzImage", testRelease, "")
	if c, m := kernelCompanions(renamed, modRoot); c != cfg || m != mods {
		t.Errorf("renamed image: %q %q, want %q %q", c, m, cfg, mods)
	}
	// A name whose suffix is not the image's release: the config by the
	// name, the modules only of the image's release.
	odd := fakeImage(t, boot, "vmlinuz-6.1.0-50-cloud-amd64", testRelease, "")
	oddCfg := writeFile(t, boot, "config-6.1.0-50-cloud-amd64", "")
	fakeModules(t, modRoot, "6.1.0-50-cloud-amd64", true)
	os.Remove(cfg)
	if c, m := kernelCompanions(odd, modRoot); c != oddCfg || m != mods {
		t.Errorf("odd name: %q %q, want %q %q", c, m, oddCfg, mods)
	}
}

func TestPrebuiltSourceString(t *testing.T) {
	tests := []struct {
		src  Source
		want string
	}{
		{Source{Image: "/boot/vmlinuz-6.1"}, "prebuilt image /boot/vmlinuz-6.1"},
		{Source{Image: "/boot/vmlinuz-6.1", Modules: "/lib/modules/6.1", Config: "/boot/config-6.1"}, "prebuilt image /boot/vmlinuz-6.1 (modules /lib/modules/6.1, config /boot/config-6.1)"},
		{Source{Deb: "k.deb"}, "Debian package file k.deb"},
		{Source{Package: "linux-image-6.1.0-50-cloud-amd64"}, "Debian package linux-image-6.1.0-50-cloud-amd64"},
	}
	for _, tt := range tests {
		if got := tt.src.String(); got != tt.want || !tt.src.Prebuilt() {
			t.Errorf("String = %q, want %q (Prebuilt %v)", got, tt.want, tt.src.Prebuilt())
		}
	}
	if (Source{Tarball: "x"}).Prebuilt() {
		t.Error("a tarball is prebuilt")
	}
}

func TestImportModulesAlone(t *testing.T) {
	_, err := testBuilder(t).Build(context.Background(), Request{Source: Source{Deb: "k.deb", Modules: "/lib/modules"}})
	buildErr(t, err, "modules and config go with an image, not alone")
}

// TestGCDebs checks that cache gc removes unpacked .debs and downloaded
// ones idle for a week, and keeps the download directory and fresh ones.
func TestGCDebs(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-30 * 24 * time.Hour)
	mk := func(p string, dir bool) string {
		p = c.Path(p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if dir {
			os.MkdirAll(filepath.Join(p, "boot"), 0o755)
		} else {
			os.WriteFile(p, []byte("deb"), 0o644)
		}
		return p
	}
	oldTree, freshTree := mk("debs/aaaa", true), mk("debs/bbbb", true)
	oldDeb, freshDeb := mk("debs/download/old_1_amd64.deb", false), mk("debs/download/new_1_amd64.deb", false)
	markUsed(freshTree)
	for _, p := range []string{oldTree, oldDeb, c.Path("debs", "download"), c.Path("debs")} {
		os.Chtimes(p, long, long)
	}
	removed, err := c.GC(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if got, want := strings.Join(removed, " "), "debs/aaaa debs/download/old_1_amd64.deb"; got != want {
		t.Errorf("GC removed %q, want %q", got, want)
	}
	for _, p := range []string{freshTree, freshDeb, c.Path("debs", "download")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("GC removed %s", p)
		}
	}
}
