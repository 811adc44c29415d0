package guesttext

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"plain", "vmsplice/TestPartialWrite", "vmsplice/TestPartialWrite"},
		{"tab and newline kept", "a\tb\nc\n", "a\tb\nc\n"},
		{"utf-8 kept", "héllo, 世界 ✓", "héllo, 世界 ✓"},
		{"invalid utf-8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"invalid run is one U+FFFD", "a\xff\xfe\xfdb", "a\uFFFDb"},
		{"CSI SGR", "a\x1b[31mred\x1b[0m", "ared"},
		{"CSI clear screen", "\x1b[2Jx", "x"},
		{"CSI private params and intermediate", "\x1b[?25l\x1b[1 qx", "x"},
		{"CSI cursor position", "\x1b[10;20Hx", "x"},
		{"CSI without final", "a\x1b[12", "a"},
		{"CSI cut by a non-ASCII char", "a\x1b[1é", "aé"},
		{"OSC title BEL", "\x1b]0;pwned\x07name", "name"},
		{"OSC title ST", "\x1b]2;pwned\x1b\\name", "name"},
		{"OSC hyperlink", "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"OSC title C1 ST", "\x1b]0;pwned\u009cname", "name"},
		{"OSC unterminated ends at the line", "a\x1b]0;pwned\nb", "a\nb"},
		{"OSC unterminated at the end", "a\x1b]0;pwned", "a"},
		{"OSC aborted by CAN", "a\x1b]0;x\x18b", "ab"},
		{"OSC cut by another ESC", "a\x1b]0;x\x1b[31mb", "ab"},
		{"DCS", "a\x1bP1$r0m\x1b\\b", "ab"},
		{"DCS ignores BEL", "a\x1bPq\x07#0\x1b\\b", "ab"},
		{"SOS", "a\x1bXhidden\x1b\\b", "ab"},
		{"PM", "a\x1b^hidden\x1b\\b", "ab"},
		{"APC", "a\x1b_hidden\x1b\\b", "ab"},
		{"ESC c reset", "a\x1bcb", "ab"},
		{"ESC 7 and ESC 8", "\x1b7a\x1b8b", "ab"},
		{"ESC M reverse index", "a\x1bMb", "ab"},
		{"nF charset", "a\x1b(0b\x1b(Bc", "abc"},
		{"nF DECALN", "a\x1b#8b", "ab"},
		{"stray ST", "a\x1b\\b", "ab"},
		{"lone ESC at the end", "a\x1b", "a"},
		{"ESC ESC", "a\x1b\x1b[31mb", "ab"},
		{"ESC before a newline", "a\x1b\nb", "a\nb"},
		{"ESC before non-ASCII", "a\x1bé", "aé"},
		{"C1 CSI", "\u009b31mred", "red"},
		{"C1 CSI clear", "a\u009b2Jb", "ab"},
		{"C1 OSC", "\u009d0;pwned\u0007name", "name"},
		{"C1 OSC with C1 ST", "\u009d0;pwned\u009cname", "name"},
		{"C1 DCS", "a\u0090q#0\u009cb", "ab"},
		{"C1 APC", "a\u009fx\x1b\\b", "ab"},
		{"other C1 controls", "a\u0080\u0085\u008d\u009ab", "ab"},
		{"raw C1 bytes are invalid UTF-8", "a\x9b31mb", "a\uFFFD31mb"},
		{"CRLF", "a\r\nb\r\n", "a\nb\n"},
		{"lone CR", "pass\rFAIL", "pass\nFAIL"},
		{"CR CR LF", "a\r\r\nb", "a\n\nb"},
		{"backspace", "FAIL\b\b\b\bPASS", "FAILPASS"},
		{"BEL", "a\x07b", "ab"},
		{"NUL and other C0", "a\x00\x01\x0b\x0c\x0e\x1fb", "ab"},
		{"DEL", "a\x7fb", "ab"},
		{"noncharacters", "a\uFFFEb\uFFFFc", "a\uFFFDb\uFFFDc"},
		{"U+FFFD kept", "a\uFFFDb", "a\uFFFDb"},
		{"bidi overrides", "a\u202ab\u202bc\u202cd\u202de\u202ef", "abcdef"},
		{"bidi isolates", "a\u2066b\u2067c\u2068d\u2069e", "abcde"},
		{"trojan source", "access\u202e\u2066// admin\u2069\u2066", "access// admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"plain", "vmsplice/TestX: fail (expected pass)", "vmsplice/TestX: fail (expected pass)"},
		{"newline shown", "TestX\n12:00:00 cell passed", `TestX\n12:00:00 cell passed`},
		{"tab shown", "a\tb", `a\tb`},
		{"CR shown as a newline", "pass\rFAIL", `pass\nFAIL`},
		{"CRLF", "a\r\n", `a\n`},
		{"backslash kept", `C:\path`, `C:\path`},
		{"escapes removed", "Test\x1b]0;pwned\x07\x1b[2J\x1bcX\b\u009b31m\u202eY", "TestXY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.in); got != tt.want {
				t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// check reports what is wrong with out, the output of Clean (line: of
// Line).
func check(t *testing.T, in, out string, line bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Clean(%q) = %q: not valid UTF-8", in, out)
	}
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			t.Fatalf("Clean(%q) = %q: control byte %#x", in, out, c)
		}
	}
	for _, r := range out {
		if r >= 0x80 && r <= 0x9f || isBidi(r) || r == 0xfffe || r == 0xffff {
			t.Fatalf("Clean(%q) = %q: rune %U", in, out, r)
		}
	}
	if line && strings.ContainsAny(out, "\n\t") {
		t.Fatalf("Line(%q) = %q: holds a newline or a tab", in, out)
	}
}

// FuzzClean checks the contract of Clean and Line on any input: no control
// byte but tab and newline (none in Line), no DEL, no C1 control, no bidi
// control, valid UTF-8, idempotence; and that EscapeJSON leaves no raw
// control in JSON and reads back as the same string.
func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"", "plain", "a\x1b[31mb", "\x1b]0;pwned\x07", "\x1b]0;x\x1b\\", "\x1bc", "\r\n\r", "\b",
		"\u009b31m", "\u009d0;x\u009c", "\u202e", "\x1bP\x1b", "\x1b\x1b[", "\xff\xfe", "\uFFFE",
		"\x1b(", "\x1b[\n", "\u0090\u009c", "\x1b]\r\n", "\xc2", "\xc2\x9b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		check(t, s, c, false)
		if cc := Clean(c); cc != c {
			t.Fatalf("Clean is not idempotent on %q: %q, then %q", s, c, cc)
		}
		l := Line(s)
		check(t, s, l, true)
		if ll := Line(l); ll != l {
			t.Fatalf("Line is not idempotent on %q: %q, then %q", s, l, ll)
		}
		b, _ := json.Marshal(s)
		e := EscapeJSON(b)
		for i := 0; i < len(e); i++ {
			if e[i] < 0x20 || e[i] == 0x7f {
				t.Fatalf("EscapeJSON(%s) = %q: control byte %#x", b, e, e[i])
			}
		}
		for _, r := range string(e) {
			if r >= 0x80 && r <= 0x9f || isBidi(r) {
				t.Fatalf("EscapeJSON(%s) = %q: rune %U", b, e, r)
			}
		}
		var back, orig string
		if err := json.Unmarshal(e, &back); err != nil {
			t.Fatalf("EscapeJSON(%s) = %q: %v", b, e, err)
		}
		json.Unmarshal(b, &orig)
		if back != orig {
			t.Fatalf("EscapeJSON(%s) reads back as %q, want %q", b, back, orig)
		}
	})
}

func BenchmarkCleanPlain(b *testing.B) {
	s := strings.Repeat("[    1.234567] Linux version 6.12.0 (kvmtest@host)\n", 1000)
	for b.Loop() {
		Clean(s)
	}
}

func BenchmarkCleanEscapes(b *testing.B) {
	s := strings.Repeat("\x1b[32m[    1.234567]\x1b[0m Linux version 6.12.0\r\n", 1000)
	for b.Loop() {
		Clean(s)
	}
}

func TestEscapeJSON(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    any
		want string
	}{
		{"plain", "abc", `"abc"`},
		{"C0 escaped by encoding/json", "a\x1b[2J\x07", `"a\u001b[2J\u0007"`},
		{"C1 CSI", "a\u009b31m", `"a\u009b31m"`},
		{"DEL", "a\x7f", `"a\u007f"`},
		{"bidi", "a\u202eb\u2066", `"a\u202eb\u2066"`},
		{"other UTF-8 kept", map[string]string{"k\u0085": "é世"}, `{"k\u0085":"é世"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			got := EscapeJSON(b)
			if string(got) != tt.want {
				t.Errorf("EscapeJSON(%s) = %s, want %s", b, got, tt.want)
			}
			var back, orig any
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("EscapeJSON(%s) = %s: not JSON: %v", b, got, err)
			}
			json.Unmarshal(b, &orig)
			if !reflect.DeepEqual(back, orig) {
				t.Errorf("EscapeJSON(%s) reads back as %#v, want %#v", b, back, orig)
			}
		})
	}
}
