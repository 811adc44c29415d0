package kimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// xz filter IDs (the .xz file format, section 5.3).
const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

// decodeXzBCJ decodes the first block of an xz stream whose filter chain
// is BCJ x86 then LZMA2, as an x86 kernel's xz payload is. ok is false for
// any other chain (the xz package reads those). On an error, out holds
// what was decoded before it.
func decodeXzBCJ(data []byte) (out []byte, ok bool, err error) {
	const streamHeader = 12
	if len(data) < streamHeader+2 || !bytes.HasPrefix(data, []byte("\xfd7zXZ\x00")) {
		return nil, false, nil
	}
	b := data[streamHeader:]
	size := (int(b[0]) + 1) * 4
	if b[0] == 0 || len(b) < size {
		return nil, false, nil // no block (an index) or a short header: not ours
	}
	hdr := bytes.NewReader(b[2 : size-4])
	flags := b[1]
	if flags&0x40 != 0 {
		if _, err := readVarint(hdr); err != nil {
			return nil, false, nil
		}
	}
	if flags&0x80 != 0 {
		if _, err := readVarint(hdr); err != nil {
			return nil, false, nil
		}
	}
	type filter struct {
		id    uint64
		props []byte
	}
	var chain []filter
	for range int(flags&3) + 1 {
		id, err1 := readVarint(hdr)
		n, err2 := readVarint(hdr)
		if err1 != nil || err2 != nil || n > uint64(hdr.Len()) {
			return nil, false, nil
		}
		props := make([]byte, n)
		io.ReadFull(hdr, props)
		chain = append(chain, filter{id, props})
	}
	if len(chain) != 2 || chain[0].id != xzFilterX86 || chain[1].id != xzFilterLZMA2 || len(chain[1].props) != 1 {
		return nil, false, nil
	}
	var start uint32
	switch len(chain[0].props) {
	case 0:
	case 4:
		start = binary.LittleEndian.Uint32(chain[0].props)
	default:
		return nil, true, errors.New("xz: BCJ x86 filter with properties of an unknown size")
	}
	dictCap, err := lzma2DictCap(chain[1].props[0])
	if err != nil {
		return nil, true, err
	}
	r, err := lzma.Reader2Config{DictCap: dictCap}.NewReader2(bytes.NewReader(b[size:]))
	if err != nil {
		return nil, true, fmt.Errorf("xz: %w", err)
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, io.LimitReader(r, maxDecompressed))
	out = buf.Bytes()
	bcjX86Decode(out, start)
	if err != nil {
		return out, true, fmt.Errorf("xz: %w", err)
	}
	return out, true, nil
}

// lzma2DictCap decodes an LZMA2 dictionary size property byte.
func lzma2DictCap(p byte) (int, error) {
	if p > 40 {
		return 0, fmt.Errorf("xz: invalid LZMA2 dictionary size property %d", p)
	}
	if p == 40 {
		return 1 << 30, nil // 4 GiB - 1 in the format; more than any kernel needs
	}
	n := (2 | int(p&1)) << (p/2 + 11)
	return max(n, lzma.MinDictCap), nil
}

// readVarint reads an xz multibyte integer (7 bits a byte, least
// significant first, at most 9 bytes).
func readVarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := range 9 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("xz: integer too long")
}

// bcjX86Decode undoes the BCJ x86 filter in place: the absolute addresses
// of CALL and JMP (E8, E9) operands it wrote become relative again. It is
// the decoder of xz-embedded's xz_dec_bcj.c (bcj_x86), for a whole buffer
// at stream position start.
func bcjX86Decode(buf []byte, start uint32) {
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNum := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msByte := func(b byte) bool { return b == 0x00 || b == 0xFF }
	if len(buf) <= 4 {
		return
	}
	size := len(buf) - 4
	prevPos := -1
	var prevMask uint32
	for i := 0; i < size; i++ {
		if buf[i]&0xFE != 0xE8 {
			continue
		}
		d := i - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << (d - 1)) & 7
			if prevMask != 0 {
				b := buf[i+4-int(bitNum[prevMask])]
				if !allowed[prevMask] || msByte(b) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !msByte(buf[i+4]) {
			prevMask = prevMask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - (start + uint32(i) + 5)
			if prevMask == 0 {
				break
			}
			j := bitNum[prevMask] * 8
			if !msByte(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01FFFFFF
		dest |= -(dest & 0x01000000)
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
}
