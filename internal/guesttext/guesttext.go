// Package guesttext makes text that came from a guest safe to show.
//
// A guest is untrusted: whatever a kernel or a guest program prints, and
// whatever the guest agent reports (suite and test names, messages, test
// output, console findings), may hold bytes that drive a terminal (clear
// the screen, set the window title, move the cursor, rewrite a line) or
// that make a terminal or a browser show text in another order than it
// is. This package is the one owner of the rule for such text: every
// guest-originated string passes through Clean or Line before it reaches a
// terminal, a log line, Markdown, HTML or JUnit XML.
//
// The raw records (run.json, events.jsonl, console.log) keep the text as
// the guest gave it; they are data, not display.
package guesttext

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Clean returns s made safe to show as multi-line text (a file, Markdown,
// HTML, JUnit XML, a block of a terminal). The result:
//
//   - is valid UTF-8: each run of invalid bytes becomes one U+FFFD (as
//     strings.ToValidUTF8);
//   - holds no ANSI (ECMA-48) escape sequence: each is removed whole —
//     CSI (ESC [ parameters intermediates final), OSC (ESC ] ... up to
//     BEL or ST), DCS, SOS, PM and APC strings (ESC P, ESC X, ESC ^,
//     ESC _ ... up to ST), nF sequences (ESC, intermediates 0x20–0x2F, a
//     final) and two-character ones such as ESC c (reset) or ESC 7. ST is
//     ESC \ or U+009C; CAN or SUB abort a string. A string without its
//     terminator ends at the end of its line (the line break is kept), so
//     it hides no more than the rest of that line;
//   - holds no C1 control (U+0080–U+009F): U+009B (CSI) is removed with
//     its parameters and final byte, U+009D (OSC), U+0090 (DCS), U+0098
//     (SOS), U+009E (PM) and U+009F (APC) with their string up to its
//     terminator, the others alone;
//   - holds no C0 control but tab and newline, and no DEL: CR LF becomes
//     LF and a lone CR becomes LF (a CR would let later text overwrite a
//     line), backspace and the others are removed;
//   - holds no U+FFFE or U+FFFF (not XML characters): each becomes U+FFFD;
//   - holds no bidirectional override or isolate control (U+202A–U+202E,
//     U+2066–U+2069), which make a terminal or a browser show text in
//     another order than it is.
//
// Everything else is kept as it was. Clean is idempotent:
// Clean(Clean(s)) == Clean(s).
func Clean(s string) string {
	if plain(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b: // ESC
			i = skipEscape(s, i+n)
		case r == 0x9b: // C1 CSI
			i = skipCSI(s, i+n)
		case r == 0x9d: // C1 OSC
			i = skipString(s, i+n, true)
		case r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f: // C1 DCS, SOS, PM, APC
			i = skipString(s, i+n, false)
		case r == '\r':
			b.WriteByte('\n')
			i += n
			if i < len(s) && s[i] == '\n' {
				i++
			}
		default:
			switch {
			case r == '\t' || r == '\n':
				b.WriteRune(r)
			case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || isBidi(r):
				// removed
			case r == 0xfffe || r == 0xffff:
				b.WriteRune(utf8.RuneError)
			default:
				b.WriteString(s[i : i+n])
			}
			i += n
		}
	}
	return b.String()
}

// Line returns s made safe to show as one line of a terminal or a log (a
// test name, a reason, a console line): Clean, then each newline shown as
// the two characters \n and each tab as \t, so that the guest cannot
// start a line of its own (one that would read as kvmtest's) or move text
// into another column. Backslashes are left as they are: Line is for
// reading, not for parsing back.
func Line(s string) string {
	s = Clean(s)
	if !strings.ContainsAny(s, "\n\t") {
		return s
	}
	return lineReplacer.Replace(s)
}

var lineReplacer = strings.NewReplacer("\n", `\n`, "\t", `\t`)

// plain reports whether s is printable ASCII, tabs and newlines only: text
// that Clean returns unchanged.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c > 0x7e) && c != '\t' && c != '\n' {
			return false
		}
	}
	return true
}

// isBidi reports whether r is a bidirectional embedding, override or
// isolate control (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI).
func isBidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// skipEscape returns the index just past the escape sequence whose ESC
// ended just before s[i]. An ESC followed by nothing a sequence may hold
// (the end, a control, another ESC, a non-ASCII character) is alone: i.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return skipCSI(s, i+1)
	case c == ']':
		return skipString(s, i+1, true)
	case c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+1, false)
	case c >= 0x20 && c <= 0x2f: // nF: intermediates, then a final
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) && s[j] >= 0x30 && s[j] <= 0x7e {
			j++
		}
		return j
	case c >= 0x30 && c <= 0x7e: // Fp, Fe, Fs: ESC c, ESC 7, ESC M, a stray ESC \ ...
		return i + 1
	}
	return i
}

// skipCSI returns the index just past a control sequence whose introducer
// (ESC [ or U+009B) ended just before s[i]: parameter and intermediate
// bytes (0x20–0x3F), then a final byte (0x40–0x7E) when there is one.
func skipCSI(s string, i int) int {
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipString returns the index just past a control string (OSC when osc,
// else DCS, SOS, PM or APC) whose introducer ended just before s[i]: up to
// and with its terminator (ST, which is ESC \ or U+009C; BEL too for an
// OSC; CAN or SUB abort it), or up to but without an ESC that starts
// another sequence or the end of the line.
func skipString(s string, i int, osc bool) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case 0x07:
			if osc {
				return i + 1
			}
		case 0x18, 0x1a: // CAN, SUB
			return i + 1
		case 0x1b:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			return i
		case 0xc2: // 0xc2 is never a continuation byte: this is U+0080–U+00BF
			if i+1 < len(s) && s[i+1] == 0x9c {
				return i + 2
			}
		case '\n', '\r':
			return i
		}
	}
	return i
}

// EscapeJSON returns encoded JSON (as encoding/json writes it) with the
// characters Clean removes that encoding/json leaves raw — DEL, the C1
// controls U+0080–U+009F and the bidi controls — written as \uXXXX
// escapes, so that JSON printed on a terminal cannot drive it while
// keeping the guest's text whole (a JSON reader gets the same strings).
// encoding/json already escapes the C0 controls and replaces invalid
// UTF-8; outside strings JSON is ASCII, so every such character is inside
// a string, where the escape is valid.
func EscapeJSON(b []byte) []byte {
	if !bytes.ContainsFunc(b, escapedInJSON) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if escapedInJSON(r) && !(r == utf8.RuneError && n == 1) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

func escapedInJSON(r rune) bool {
	return r == 0x7f || r >= 0x80 && r <= 0x9f || isBidi(r)
}
