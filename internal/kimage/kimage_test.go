package kimage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

const testConfig = "CONFIG_IKCONFIG=y\nCONFIG_MODULES=y\nCONFIG_VIRTIO_FS=m\n"

// fakeBzImage is an x86 bzImage as far as Probe and EmbeddedConfig look:
// one setup sector holding the boot protocol 2.15 header and the version
// string, then the protected-mode code: 16 bytes, the payload with the
// uncompressed size appended (as the kernel build does), 16 more bytes.
func fakeBzImage(version string, payload []byte, uncompressed int) []byte {
	le := binary.LittleEndian
	img := make([]byte, 1024)
	img[offSetupSects] = 1
	img[0x1FE], img[0x1FF] = 0x55, 0xAA
	copy(img[offHeaderMagic:], "HdrS")
	le.PutUint16(img[offVersion:], 0x020F)
	le.PutUint16(img[offKernelVersion:], 0x100)
	copy(img[0x300:], version+"\x00")
	img[offLoadFlags] = 1
	le.PutUint16(img[offXLoadFlags:], 1)
	le.PutUint32(img[offPayloadOffset:], 16)
	le.PutUint32(img[offPayloadLength:], uint32(len(payload)+4))
	img = append(img, bytes.Repeat([]byte{0xCC}, 16)...)
	img = append(img, payload...)
	img = le.AppendUint32(img, uint32(uncompressed))
	return append(img, bytes.Repeat([]byte{0xCC}, 16)...)
}

// fakeVmlinux is an uncompressed kernel: pseudo-random bytes (with the
// E8/E9 opcodes the BCJ filter rewrites), the banner, and the IKCONFIG
// block when config is not empty.
func fakeVmlinux(release, config string) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 256<<10)
	for i := range b {
		b[i] = byte(r.IntN(16)) // compressible, and E8s where the filter sees them below
		if r.IntN(50) == 0 {
			b[i] = 0xE8
		}
	}
	b = append(b, "Linux version "+release+" (kvmtest@kvmtest) (gcc 12.2.0) #1 SMP\n\x00"...)
	if config != "" {
		b = append(b, "IKCFG_ST"...)
		b = append(b, gzipBytes([]byte(config))...)
		b = append(b, "IKCFG_ED"...)
	}
	return append(b, make([]byte, 4096)...)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// compressors write each format a kernel payload may have; a nil error
// with nil output means the tool it needs is missing.
var compressors = map[string]func(t *testing.T, b []byte) []byte{
	"gzip": func(t *testing.T, b []byte) []byte { return gzipBytes(b) },
	"zstd": func(t *testing.T, b []byte) []byte {
		e, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return e.EncodeAll(b, nil)
	},
	"lz4": func(t *testing.T, b []byte) []byte {
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if err := w.Apply(lz4.LegacyOption(true)); err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		return buf.Bytes()
	},
	"lzma": func(t *testing.T, b []byte) []byte {
		var buf bytes.Buffer
		// lzma -9 as the kernel runs it: a dictionary of 2^n bytes, n >= 24,
		// whose header starts 5d 00 00 00 (extract-ikconfig's magic).
		w, err := lzma.WriterConfig{EOSMarker: true, DictCap: 16 << 20}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		return buf.Bytes()
	},
	"xz": func(t *testing.T, b []byte) []byte {
		var buf bytes.Buffer
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		return buf.Bytes()
	},
	// The x86 kernel's xz, as scripts/xz_wrap.sh makes it.
	"xz --x86": func(t *testing.T, b []byte) []byte {
		return cliCompress(t, b, "xz", "--format=xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB", "-c")
	},
	"bzip2": func(t *testing.T, b []byte) []byte { return cliCompress(t, b, "bzip2", "-9", "-c") },
}

func cliCompress(t *testing.T, b []byte, argv ...string) []byte {
	if _, err := exec.LookPath(argv[0]); err != nil {
		t.Skipf("%s not installed", argv[0])
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return out
}

func TestEmbeddedConfigCompressions(t *testing.T) {
	for name, compress := range compressors {
		t.Run(name, func(t *testing.T) {
			vmlinux := fakeVmlinux("6.99.0-kvmtest", testConfig)
			img := writeTemp(t, "bzImage", fakeBzImage("6.99.0-kvmtest (kvmtest@kvmtest) #1 SMP", compress(t, vmlinux), len(vmlinux)))
			cfg, err := EmbeddedConfig(img)
			if err != nil {
				t.Fatalf("EmbeddedConfig: %v", err)
			}
			if string(cfg) != testConfig {
				t.Errorf("config = %q, want %q", cfg, testConfig)
			}
			// Without IKCONFIG: ErrNoConfig, not an error about the payload.
			bare := fakeVmlinux("6.99.0-kvmtest", "")
			img = writeTemp(t, "bzImage", fakeBzImage("6.99.0-kvmtest", compress(t, bare), len(bare)))
			if _, err := EmbeddedConfig(img); !errors.Is(err, ErrNoConfig) {
				t.Errorf("without IKCONFIG: %v, want ErrNoConfig", err)
			}
		})
	}
}

// TestEmbeddedConfigBCJFixture decodes an xz --x86 stream committed in
// testdata (made by xz 5.4 from x86 code of liblzma around an IKCONFIG
// block), so the BCJ decoder is checked where the xz tool is missing.
func TestEmbeddedConfigBCJFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/bcj-x86.xz")
	if err != nil {
		t.Fatal(err)
	}
	out, ok, err := decodeXzBCJ(data)
	if !ok || err != nil {
		t.Fatalf("decodeXzBCJ: ok %v, %v", ok, err)
	}
	sum := sha256.Sum256(out)
	if got, want := hex.EncodeToString(sum[:]), "44c949b5c836ade741700edc43b95cd456602c5fcf106966d1e4cc6a54391410"; got != want {
		t.Errorf("decoded sha256 %s, want %s (%d bytes)", got, want, len(out))
	}
	img := writeTemp(t, "bzImage", fakeBzImage("6.99.0", data, len(out)))
	cfg, err := EmbeddedConfig(img)
	if want := "CONFIG_IKCONFIG=y\nCONFIG_KVMTEST_FIXTURE=y\n# CONFIG_MODULES is not set\n"; err != nil || string(cfg) != want {
		t.Errorf("EmbeddedConfig = %q, %v; want %q", cfg, err, want)
	}
}

func TestEmbeddedConfigErrors(t *testing.T) {
	vmlinux := fakeVmlinux("6.99.0", testConfig)
	full := compressors["gzip"](t, vmlinux)
	tests := []struct {
		name    string
		payload []byte
		want    string // in the error
		unsupp  string // the *UnsupportedError's compression
	}{
		{"lzo", append([]byte("\x89LZO\x00\r\n\x1a\n"), make([]byte, 64)...), "is compressed with lzo, which kvmtest cannot read", "lzo"},
		{"unknown", []byte("not compressed at all"), "payload's compression is not one kvmtest knows", ""},
		{"truncated", full[:len(full)/3], "decompressing the gzip payload", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := writeTemp(t, "bzImage", fakeBzImage("6.99.0", tt.payload, len(vmlinux)))
			_, err := EmbeddedConfig(img)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrNoConfig) {
				t.Fatalf("EmbeddedConfig = %v, want an error containing %q", err, tt.want)
			}
			var ue *UnsupportedError
			if got := errors.As(err, &ue); got != (tt.unsupp != "") || got && ue.Compression != tt.unsupp {
				t.Errorf("error %v: UnsupportedError %v, want %q", err, got, tt.unsupp)
			}
		})
	}
}

// TestEmbeddedConfigUncompressed covers the files whose config is in
// their own bytes (a vmlinux, a configs.ko) and those with no setup
// header, scanned for a compressed payload (an Image.gz).
func TestEmbeddedConfigUncompressed(t *testing.T) {
	vmlinux := fakeVmlinux("6.99.0", testConfig)
	for name, data := range map[string][]byte{
		"vmlinux":  vmlinux,
		"Image.gz": append(append([]byte("some header "), gzipBytes(vmlinux)...), "trailer"...),
		"Image.xz": append([]byte("junk"), compressors["xz"](t, vmlinux)...),
	} {
		cfg, err := EmbeddedConfig(writeTemp(t, name, data))
		if err != nil || string(cfg) != testConfig {
			t.Errorf("%s: EmbeddedConfig = %q, %v", name, cfg, err)
		}
	}
	if _, err := EmbeddedConfig(writeTemp(t, "plain", []byte("nothing here"))); !errors.Is(err, ErrNoConfig) {
		t.Errorf("a file with nothing: %v, want ErrNoConfig", err)
	}
}

func TestProbe(t *testing.T) {
	elf := func(machine uint16) []byte {
		h := make([]byte, 64)
		copy(h, "\x7fELF\x02\x01\x01")
		binary.LittleEndian.PutUint16(h[18:], machine)
		return append(h, fakeVmlinux("6.99.0-elf", "")...)
	}
	arm64 := make([]byte, 64)
	copy(arm64[arm64MagicOffset:], "ARM\x64")
	arm64 = append(arm64, fakeVmlinux("6.99.0-arm64", "")...)
	riscv := make([]byte, 64)
	copy(riscv[0x30:], "RISCV\x00\x00\x00")
	copy(riscv[riscvMagicOffset:], "RSC\x05")
	riscv = append(riscv, fakeVmlinux("6.99.0-riscv", "")...)
	i386 := fakeBzImage("4.19.0-i386 (x@y) #1", []byte("\x1f\x8b\x08"), 3)
	binary.LittleEndian.PutUint16(i386[offXLoadFlags:], 0)
	noVersion := fakeBzImage("", nil, 0)
	binary.LittleEndian.PutUint16(noVersion[offKernelVersion:], 0)
	tests := []struct {
		name string
		data []byte
		want Info
		err  string
	}{
		{"bzImage", fakeBzImage("6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3", nil, 0),
			Info{Arch: "x86_64", Format: "bzImage", Release: "6.1.0-57-cloud-amd64"}, ""},
		{"i386", i386, Info{Arch: "i386", Format: "bzImage", Release: "4.19.0-i386"}, ""},
		{"vmlinux", elf(62), Info{Arch: "x86_64", Format: "vmlinux", Release: "6.99.0-elf"}, ""},
		{"arm64 vmlinux", elf(183), Info{Arch: "arm64", Format: "vmlinux", Release: "6.99.0-elf"}, ""},
		{"arm64 Image", arm64, Info{Arch: "arm64", Format: "Image", Release: "6.99.0-arm64"}, ""},
		{"riscv64 Image", riscv, Info{Arch: "riscv64", Format: "Image", Release: "6.99.0-riscv"}, ""},
		{"riscv64 vmlinux", elf(243), Info{Arch: "riscv64", Format: "vmlinux", Release: "6.99.0-elf"}, ""},
		{"text", []byte("#!/bin/sh\necho hello\n"), Info{}, "is not a kernel image: no bzImage header (HdrS at 0x202)"},
		{"empty", nil, Info{}, "is not a kernel image: no bzImage header (HdrS at 0x202)"},
		{"no version", noVersion, Info{}, "no kernel version string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, "kernel", tt.data)
			got, err := Probe(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), p) {
					t.Fatalf("Probe = %+v, %v; want an error naming %s: %q", got, err, p, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Probe = %+v, %v; want %+v", got, err, tt.want)
			}
			bootable := tt.want.Arch == "x86_64" && tt.want.Format == "bzImage" || tt.want.Format == "Image"
			if got.Bootable() != bootable {
				t.Errorf("Bootable = %v", got.Bootable())
			}
		})
	}
	if _, err := Probe(writeTemp(t, "x", []byte("x"))); !errors.Is(err, ErrNotKernel) {
		t.Errorf("not a kernel: %v does not wrap ErrNotKernel", err)
	}
}

// TestHostImages probes this machine's own kernels (/boot/vmlinuz-*):
// the release is the file name's suffix, and the embedded config, when
// there is one, is the /boot/config-RELEASE beside it.
func TestHostImages(t *testing.T) {
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(imgs) == 0 {
		t.Skip("no /boot/vmlinuz-* on this machine")
	}
	for _, img := range imgs {
		info, err := Probe(img)
		if err != nil {
			t.Errorf("Probe: %v", err)
			continue
		}
		if want := strings.TrimPrefix(filepath.Base(img), "vmlinuz-"); info.Release != want {
			t.Errorf("%s: release %q, want %q", img, info.Release, want)
		}
		cfg, err := EmbeddedConfig(img)
		switch {
		case errors.Is(err, ErrNoConfig):
			t.Logf("%s: %+v, no embedded config", img, info)
		case err != nil:
			t.Errorf("%s: EmbeddedConfig: %v", img, err)
		default:
			t.Logf("%s: %+v, embedded config of %d bytes", img, info, len(cfg))
			if want, err := os.ReadFile("/boot/config-" + info.Release); err == nil && !bytes.Equal(cfg, want) {
				t.Errorf("%s: the embedded config differs from /boot/config-%s", img, info.Release)
			}
		}
	}
}
