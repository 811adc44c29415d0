package builder

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// ConfigSpec says how to make a kernel's .config: a base (a make target such
// as tinyconfig, or a config file), then fragments and inline options merged
// on top with the semantics of the kernel's scripts/kconfig/merge_config.sh
// (later values override earlier ones), then olddefconfig.
type ConfigSpec struct {
	Base      string   // tinyconfig, defconfig, allnoconfig, or a file path
	Fragments []string // fragment files, in order
	Options   []string // inline lines: CONFIG_X=y, CONFIG_Y="s", # CONFIG_Z is not set
}

// Option values: a symbol set to "y", "m", a number or a quoted string, or
// notSet for "# CONFIG_X is not set".
const notSet = "is not set"

var (
	setRe   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetRe = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// parseConfig reads kconfig lines into symbol -> value, later lines winning.
// It also returns the symbols in first-seen order.
func parseConfig(data []byte) (map[string]string, []string) {
	vals := map[string]string{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var sym, val string
		if m := setRe.FindStringSubmatch(line); m != nil {
			sym, val = m[1], m[2]
		} else if m := unsetRe.FindStringSubmatch(line); m != nil {
			sym, val = m[1], notSet
		} else {
			continue
		}
		if _, seen := vals[sym]; !seen {
			order = append(order, sym)
		}
		vals[sym] = val
	}
	return vals, order
}

// requested merges the fragments and inline options of spec the way
// merge_config.sh does and returns what was asked for.
func (s ConfigSpec) requested() (map[string]string, []string, error) {
	var all []byte
	for _, f := range s.Fragments {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("config fragment: %w", err)
		}
		all = append(append(all, b...), '\n')
	}
	all = append(all, []byte(strings.Join(s.Options, "\n"))...)
	vals, order := parseConfig(all)
	return vals, order, nil
}

// optionsFragment renders inline options as a fragment file.
func (s ConfigSpec) optionsFragment() []byte {
	var b bytes.Buffer
	b.WriteString("# inline options from the matrix\n")
	for _, o := range s.Options {
		b.WriteString(strings.TrimSpace(o))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// MissingOption is a requested option whose value did not survive olddefconfig.
type MissingOption struct {
	Symbol string
	Want   string // the value asked for
	Got    string // the value in the final .config ("is not set" when absent)
	Why    string // what kconfig says: where the symbol is defined and which dependency is unmet
}

func (m MissingOption) String() string {
	s := fmt.Sprintf("%s: asked %s, got %s", m.Symbol, showVal(m.Want), showVal(m.Got))
	if m.Why != "" {
		s += " (" + m.Why + ")"
	}
	return s
}

func showVal(v string) string {
	if v == notSet {
		return "not set"
	}
	return v
}

// ConfigError reports options that olddefconfig dropped or changed, usually
// because a dependency is not met.
type ConfigError struct {
	Missing []MissingOption
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requested config option(s) did not survive olddefconfig (unmet dependencies?):", len(e.Missing))
	for _, m := range e.Missing {
		b.WriteString("\n  ")
		b.WriteString(m.String())
	}
	return b.String()
}

// verifyConfig checks every requested option against the final .config.
func verifyConfig(want map[string]string, order []string, final []byte) error {
	got, _ := parseConfig(final)
	var missing []MissingOption
	for _, sym := range order {
		w := want[sym]
		g, ok := got[sym]
		if !ok {
			g = notSet
		}
		if w == "n" {
			w = notSet
		}
		if w != g {
			missing = append(missing, MissingOption{Symbol: sym, Want: w, Got: g})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &ConfigError{Missing: missing}
}

// configForKey is the .config without its comment header (which carries the
// kernel version line and nothing else that changes the build) so that the
// key depends on the symbols alone.
func configForKey(final []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(final), "\n") {
		if strings.HasPrefix(line, "CONFIG_") || unsetRe.MatchString(line) {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
