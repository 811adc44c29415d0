package kimage

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// ErrNoConfig says that a kernel image carries no .config: it was built
// without CONFIG_IKCONFIG=y (Debian's kernels are).
var ErrNoConfig = errors.New("the kernel carries no .config (built without CONFIG_IKCONFIG=y)")

// UnsupportedError is EmbeddedConfig's error for a kernel whose payload is
// compressed in a format kvmtest has no decompressor for.
type UnsupportedError struct {
	Path        string
	Compression string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s is compressed with %s, which kvmtest cannot read", e.Path, e.Compression)
}

// maxDecompressed caps what one decompression may produce: more than any
// kernel's uncompressed image, so a false magic cannot fill the memory.
const maxDecompressed = 1 << 30

// compression is one format a kernel payload may be compressed with,
// recognised by its magic as scripts/extract-ikconfig does. open is nil for
// a format kvmtest cannot read.
type compression struct {
	name  string
	magic string
	open  func(io.Reader) (io.Reader, error)
}

// compressions are tried in scripts/extract-ikconfig's order.
var compressions = []compression{
	{"gzip", "\x1f\x8b\x08", openGzip},
	{"xz", "\xfd7zXZ\x00", openXz},
	{"bzip2", "BZh", openBzip2},
	{"lzma", "\x5d\x00\x00\x00", openLzma},
	{"lzo", "\x89LZO\x00\r\n\x1a\n", nil},
	{"lz4", "\x02\x21\x4c\x18", openLz4},
	{"zstd", "\x28\xb5\x2f\xfd", openZstd},
}

// EmbeddedConfig returns the .config the kernel at path was built with,
// when it was built with CONFIG_IKCONFIG=y, found as
// scripts/extract-ikconfig finds it: the gzip stream between the IKCFG_ST
// and IKCFG_ED markers, in the file itself (an uncompressed vmlinux or
// Image, a configs.ko) or in its decompressed payload. For an x86 bzImage
// the payload is the one the setup header points to; for another file each
// place a compression magic occurs is tried. It returns ErrNoConfig when
// the kernel has none, and an *UnsupportedError when its payload's
// compression is one kvmtest cannot read (lzo).
func EmbeddedConfig(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if cfg, ok := ikconfigIn(data); ok {
		return cfg, nil
	}
	if payload, ok := bzPayload(data); ok {
		return payloadConfig(path, payload)
	}
	return scanConfig(path, data)
}

// bzPayload returns the compressed kernel of an x86 bzImage, as the setup
// header's payload_offset and payload_length give it (boot protocol 2.08
// and later).
func bzPayload(data []byte) ([]byte, bool) {
	if !isBzImage(data) || len(data) < offPayloadLength+4 {
		return nil, false
	}
	le := binary.LittleEndian
	if le.Uint16(data[offVersion:]) < 0x208 {
		return nil, false
	}
	sects := int(data[offSetupSects])
	if sects == 0 {
		sects = 4
	}
	start := (sects+1)*512 + int(le.Uint32(data[offPayloadOffset:]))
	end := start + int(le.Uint32(data[offPayloadLength:]))
	if start >= end || end > len(data) {
		return nil, false
	}
	return data[start:end], true
}

// payloadConfig decompresses a bzImage's payload and finds the config in
// it. The kernel build appends the uncompressed size to the payload (the
// last four bytes, little endian): a decompressor that stopped with an
// error short of it has not shown the whole kernel, and the config may be
// in what it did not show.
func payloadConfig(path string, payload []byte) ([]byte, error) {
	c, ok := compressionOf(payload)
	if !ok {
		return nil, fmt.Errorf("%s: the bzImage payload's compression is not one kvmtest knows (it starts % x)", path, payload[:min(len(payload), 6)])
	}
	if c.open == nil {
		return nil, &UnsupportedError{Path: path, Compression: c.name}
	}
	out, derr := decompress(c, payload)
	if cfg, ok := ikconfigIn(out); ok {
		return cfg, nil
	}
	if derr != nil && len(payload) >= 4 && uint64(len(out)) < uint64(binary.LittleEndian.Uint32(payload[len(payload)-4:])) {
		return nil, fmt.Errorf("%s: decompressing the %s payload: %w", path, c.name, derr)
	}
	return nil, ErrNoConfig
}

// scanConfig tries each compression magic at each place it occurs, as
// extract-ikconfig does. A format that occurs but cannot be read is
// reported when nothing else held a config.
func scanConfig(path string, data []byte) ([]byte, error) {
	const maxTries = 64 // per format: a short magic occurs by chance in a large file
	var unsupported string
	for _, c := range compressions {
		rest, tries := data, 0
		for tries < maxTries {
			i := bytes.Index(rest, []byte(c.magic))
			if i < 0 {
				break
			}
			tries++
			if c.open == nil {
				unsupported = c.name
				break
			}
			out, _ := decompress(c, rest[i:])
			if cfg, ok := ikconfigIn(out); ok {
				return cfg, nil
			}
			rest = rest[i+1:]
		}
	}
	if unsupported != "" {
		return nil, &UnsupportedError{Path: path, Compression: unsupported}
	}
	return nil, ErrNoConfig
}

func compressionOf(payload []byte) (compression, bool) {
	for _, c := range compressions {
		if bytes.HasPrefix(payload, []byte(c.magic)) {
			return c, true
		}
	}
	return compression{}, false
}

// decompress returns what c's decompressor makes of data, up to
// maxDecompressed bytes: all of it, or what came before an error (a
// kernel payload has trailing bytes a decompressor may stop at).
func decompress(c compression, data []byte) ([]byte, error) {
	r, err := c.open(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, io.LimitReader(r, maxDecompressed))
	if cl, ok := r.(io.Closer); ok {
		cl.Close()
	}
	return out.Bytes(), err
}

// ikconfigIn finds IKCFG_ST, a gzip stream, IKCFG_ED in data and returns
// the stream's content.
func ikconfigIn(data []byte) ([]byte, bool) {
	const st, ed = "IKCFG_ST", "IKCFG_ED"
	for rest := data; ; {
		i := bytes.Index(rest, []byte(st))
		if i < 0 {
			return nil, false
		}
		rest = rest[i+len(st):]
		j := bytes.Index(rest, []byte(ed))
		if j < 0 {
			return nil, false
		}
		if cfg, err := gunzip(rest[:j]); err == nil {
			return cfg, true
		}
	}
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(io.LimitReader(zr, maxDecompressed))
}

func openGzip(r io.Reader) (io.Reader, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false) // the kernel's payload ends with its size, not another member
	return zr, nil
}

func openBzip2(r io.Reader) (io.Reader, error) { return bzip2.NewReader(r), nil }

func openLzma(r io.Reader) (io.Reader, error) { return lzma.NewReader(r) }

func openLz4(r io.Reader) (io.Reader, error) { return lz4.NewReader(r), nil }

func openZstd(r io.Reader) (io.Reader, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

// openXz reads an xz stream. The x86 kernel's is filtered with BCJ x86
// before LZMA2 (scripts/xz_wrap.sh), which the xz package does not
// decode: such a stream goes to the decoder of xzbcj.go.
func openXz(r io.Reader) (io.Reader, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if out, ok, err := decodeXzBCJ(data); ok {
		if err != nil {
			return io.MultiReader(bytes.NewReader(out), errReader{err}), nil
		}
		return bytes.NewReader(out), nil
	}
	return xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(data))
}

// errReader fails every read with its error: what a decoder that stopped
// short returns after the bytes it did decode.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
