package builder

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/internal/kimage"
)

// debianCloudKernel returns the newest linux-image-6.1.0-N-cloud-amd64
// that apt knows, running apt-get update first when it knows none and the
// test runs as root.
func debianCloudKernel(t *testing.T) string {
	search := func() []string {
		out, err := exec.Command("apt-cache", "search", "--names-only", `^linux-image-6\.1\.0-[0-9]+-cloud-amd64$`).Output()
		if err != nil {
			t.Fatalf("apt-cache search: %v", err)
		}
		var names []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				names = append(names, f[0])
			}
		}
		return names
	}
	names := search()
	if len(names) == 0 && os.Geteuid() == 0 {
		t.Log("apt knows no linux-image-6.1.0-*-cloud-amd64: apt-get update")
		if out, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		names = search()
	}
	if len(names) == 0 {
		t.Fatal("apt knows no linux-image-6.1.0-*-cloud-amd64 (apt-get update?)")
	}
	abi := func(n string) int {
		v, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(n, "linux-image-6.1.0-"), "-cloud-amd64"))
		return v
	}
	sort.Slice(names, func(i, j int) bool { return abi(names[i]) < abi(names[j]) })
	return names[len(names)-1]
}

// TestAptDebianKernel imports Debian's cloud kernel through
// Source.Package, for real: apt-get download into a temporary cache,
// dpkg-deb -x, depmod. It checks the release, the config, the modules
// and the artifact's digests, and logs what the engine needs to know: how
// long it took, whether the modules are compressed, and which of the
// modules a guest share needs are modules, built in or absent. It runs
// only with KVMTEST_APT_TEST=1 (it downloads about 27 MB).
func TestAptDebianKernel(t *testing.T) {
	if os.Getenv("KVMTEST_APT_TEST") != "1" {
		t.Skip("set KVMTEST_APT_TEST=1 to download and import a Debian kernel")
	}
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	name := debianCloudKernel(t)
	release := strings.TrimPrefix(name, "linux-image-")
	t.Logf("package %s", name)
	b := testBuilder(t)
	b.Logf = t.Logf
	req := Request{Kernel: "debian-cloud", Source: Source{Package: name}}
	start := time.Now()
	a, err := b.Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	importTime := time.Since(start)
	debs, _ := filepath.Glob(b.Cache.Path("debs", "download", name+"_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("downloaded: %v", debs)
	}
	debSize := fileSize(debs[0])
	t.Logf("imported %s in %.1fs: .deb %s (%.1f MB), artifact %s (%.1f MB, %d files)", a.Meta.Version, importTime.Seconds(),
		filepath.Base(debs[0]), mb(debSize), a.Key, mb(DirSize(a.Dir)), len(a.Meta.Files))

	if a.Meta.Version != release {
		t.Errorf("release %q, want %q", a.Meta.Version, release)
	}
	if info, err := kimage.Probe(a.Kernel); err != nil || info.Release != release || !info.Bootable() {
		t.Errorf("Probe = %+v, %v", info, err)
	}
	cfg, err := os.ReadFile(a.Config)
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := parseConfig(cfg)
	if vals["CONFIG_VIRTIO_FS"] != "m" {
		t.Errorf("CONFIG_VIRTIO_FS=%q, want m", vals["CONFIG_VIRTIO_FS"])
	}
	start = time.Now()
	_, err = kimage.EmbeddedConfig(a.Kernel)
	t.Logf("EmbeddedConfig of the image (%s compression): %v in %.2fs", kernelCompression(vals), err, time.Since(start).Seconds())
	if vals["CONFIG_IKCONFIG"] != "y" && !errors.Is(err, kimage.ErrNoConfig) {
		t.Errorf("EmbeddedConfig = %v, want ErrNoConfig (CONFIG_IKCONFIG=%q)", err, vals["CONFIG_IKCONFIG"])
	}

	if a.Modules == "" {
		t.Fatal("no modules")
	}
	dep := readLines(t, filepath.Join(a.Modules, "modules.dep"))
	builtin := readLines(t, filepath.Join(a.Modules, "modules.builtin"))
	var plain, xz, zst int
	for _, l := range dep {
		mod, _, _ := strings.Cut(l, ":")
		switch {
		case strings.HasSuffix(mod, ".ko"):
			plain++
		case strings.HasSuffix(mod, ".ko.xz"):
			xz++
		case strings.HasSuffix(mod, ".ko.zst"):
			zst++
		}
	}
	t.Logf("modules: %d in modules.dep (%d .ko, %d .ko.xz, %d .ko.zst), %d built in (modules.builtin); CONFIG_MODULE_COMPRESS_* %s",
		len(dep), plain, xz, zst, len(builtin), moduleCompression(vals))
	for _, m := range []string{"virtio_pci", "virtio_blk", "virtiofs", "fuse", "overlay", "9p", "9pnet_virtio", "netfs", "virtio", "virtio_ring"} {
		t.Logf("  %-13s %s", m, moduleStatus(m, dep, builtin))
	}
	for _, m := range []string{"virtiofs", "overlay"} {
		t.Logf("  modules.dep: %s", depLine(m, dep))
	}
	if depLine("virtiofs", dep) == "" {
		t.Error("virtiofs is not in modules.dep")
	}
	for _, f := range []string{"kernel/fs/fuse/virtiofs.ko", "kernel/fs/fuse/virtiofs.ko.xz"} {
		if _, err := os.Stat(filepath.Join(a.Modules, f)); err == nil {
			break
		} else if strings.HasSuffix(f, ".xz") {
			t.Errorf("no virtiofs.ko(.xz) in %s", a.Modules)
		}
	}

	// What a warm run pays: the digest check of every file.
	for i := range 3 {
		start = time.Now()
		if _, err := b.Cache.LoadArtifact(a.Key); err != nil {
			t.Fatal(err)
		}
		t.Logf("LoadArtifact #%d: %.3fs", i+1, time.Since(start).Seconds())
	}
	start = time.Now()
	again, err := b.Build(context.Background(), req)
	if err != nil || !again.Cached || again.Key != a.Key {
		t.Fatalf("second Build: %+v, %v", again, err)
	}
	t.Logf("second Build (cached, no download): %.3fs", time.Since(start).Seconds())
	if debs2, _ := filepath.Glob(b.Cache.Path("debs", "download", "*.deb")); len(debs2) != 1 {
		t.Errorf("downloads after the second Build: %v", debs2)
	}
}

func moduleStatus(name string, dep, builtin []string) string {
	if l := depLine(name, dep); l != "" {
		mod, _, _ := strings.Cut(l, ":")
		return "module " + mod
	}
	for _, l := range builtin {
		if modName(l) == name {
			return "built in (" + l + ")"
		}
	}
	return "absent"
}

// depLine returns the modules.dep line of module name ("" when none).
func depLine(name string, dep []string) string {
	for _, l := range dep {
		mod, _, _ := strings.Cut(l, ":")
		if modName(mod) == name {
			return l
		}
	}
	return ""
}

var koRe = regexp.MustCompile(`\.ko(\.[a-z]+)?$`)

// modName is a module's name from its path: kernel/fs/fuse/virtiofs.ko.xz
// is virtiofs (dashes and underscores are one to modprobe).
func modName(p string) string {
	return strings.ReplaceAll(koRe.ReplaceAllString(filepath.Base(p), ""), "-", "_")
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func kernelCompression(vals map[string]string) string {
	for _, c := range []string{"GZIP", "BZIP2", "LZMA", "XZ", "LZO", "LZ4", "ZSTD"} {
		if vals["CONFIG_KERNEL_"+c] == "y" {
			return strings.ToLower(c)
		}
	}
	return "unknown"
}

func moduleCompression(vals map[string]string) string {
	for _, c := range []string{"NONE", "GZIP", "XZ", "ZSTD"} {
		if vals["CONFIG_MODULE_COMPRESS_"+c] == "y" {
			return strings.ToLower(c)
		}
	}
	return "not set"
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func mb(n int64) float64 { return float64(n) / 1e6 }
