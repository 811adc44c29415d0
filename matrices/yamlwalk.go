package matrices

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits that keep loading bounded whatever the input.
const (
	maxMatrixSize   = 4 << 20 // bytes of one matrix file
	maxFragmentSize = 1 << 20 // bytes of one config fragment
)

// maxWork bounds the node visits of one Load (aliases can make a small
// document visit nodes many times; merges are memoised, so this is a
// backstop). A variable for tests.
var maxWork = 1_000_000

// errBudget aborts a load whose aliases and merge keys expand too much.
var errBudget = errors.New("work budget exceeded")

// file is one matrix file being walked.
type file struct {
	l        *loader
	disp     string   // name in messages
	abs      string   // absolute path
	dir      string   // absolute directory, base of relative paths
	chain    []string // display names of the include chain, ending with this file
	absChain []string
	top      bool
}

func (f *file) errAt(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	f.l.add(f.disp, line, col, fmt.Sprintf(format, args...))
}

func (f *file) pos(n *yaml.Node) Position {
	if n == nil || n.Line == 0 {
		return Position{File: f.disp, Line: 1, Col: 1}
	}
	return Position{File: f.disp, Line: n.Line, Col: n.Column}
}

func (f *file) spend(n int) {
	f.l.work += n
	if f.l.work > maxWork {
		panic(errBudget)
	}
}

// resolve follows an alias to the node it names.
func (f *file) resolve(n *yaml.Node) *yaml.Node {
	f.spend(1)
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if n.Alias == nil || i > 10 {
			f.errAt(n, "alias *%s names no anchor", n.Value)
			return nil
		}
		n = n.Alias
	}
	return n
}

// parseYAML parses one matrix file into its root node, reporting syntax
// errors, binary data, size, emptiness and extra documents.
func (f *file) parseYAML(data []byte) *yaml.Node {
	if len(data) > maxMatrixSize {
		f.l.add(f.disp, 1, 1, fmt.Sprintf("file is too large (%d bytes; a matrix file may have at most %d)", len(data), maxMatrixSize))
		return nil
	}
	if off, ok := binaryAt(data); ok {
		line, col := lineCol(data, off)
		f.l.add(f.disp, line, col, fmt.Sprintf("binary data (byte 0x%02x): a matrix is a UTF-8 YAML text file", data[off]))
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if err == io.EOF || err == nil && (len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" && doc.Content[0].Kind == yaml.ScalarNode) {
		f.l.add(f.disp, 1, 1, "empty matrix file: a matrix needs at least kernels, patchsets and configs")
		return nil
	}
	if err != nil {
		f.syntaxError(data, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		f.syntaxError(data, err)
		return nil
	default:
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		f.l.add(f.disp, max(line, 1), 1, "a matrix file holds one YAML document; this is a second one (remove the \"---\" line)")
		return nil
	}
	root := doc.Content[0]
	return root
}

var yamlLineRE = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// parserProblems are the messages of libyaml's parser (as opposed to its
// scanner): yaml.v3 reports their line 0-based, at the start of the
// construct being parsed.
var parserProblems = []string{"did not find expected", "found duplicate %", "found incompatible YAML", "found undefined tag handle"}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

func (f *file) syntaxError(data []byte, err error) {
	msg := err.Error()
	line, col := 1, 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		for _, p := range parserProblems {
			if strings.HasPrefix(msg, p) {
				line++
				break
			}
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
			if loc := regexp.MustCompile(`\*` + regexp.QuoteMeta(m[1]) + `($|[\s,\]}])`).FindIndex(data); loc != nil {
				line, col = lineCol(data, loc[0])
			}
			msg = fmt.Sprintf("alias *%s names no anchor (define &%s before using it)", m[1], m[1])
		}
	}
	lines := strings.Split(string(data), "\n")
	if strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token") {
		// The tab may be on a later line than the construct reported.
		for l := line; l >= 1 && l <= len(lines) && l < line+50; l++ {
			text := lines[l-1]
			if i := strings.IndexByte(text, '\t'); i >= 0 && strings.TrimLeft(text[:i], " ") == "" {
				line, col = l, utf8.RuneCountInString(text[:i])+1
				msg += " (a tab: YAML indentation must use spaces)"
				break
			}
		}
	}
	f.l.add(f.disp, line, col, "YAML syntax error: "+msg)
}

// binaryAt returns the offset of the first NUL, invalid UTF-8 sequence or
// control character other than tab, newline and carriage return.
func binaryAt(data []byte) (int, bool) {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i, true
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return i, true
		}
		i += size
	}
	return 0, false
}

// lineCol turns a byte offset into a 1-based line and column (in runes).
func lineCol(data []byte, off int) (int, int) {
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, utf8.RuneCount(data[start:off]) + 1
}

// describe names what a node is, for type errors.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!null":
		return "an empty value (null)"
	case "!!bool":
		return "boolean " + n.Value
	case "!!int":
		return "integer " + n.Value
	case "!!float":
		return "number " + n.Value
	case "!!str":
		return fmt.Sprintf("string %q", clip(n.Value))
	}
	return fmt.Sprintf("%s %q", n.ShortTag(), clip(n.Value))
}

func clip(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return s
}

// field is one key of a (flattened) mapping.
type field struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// flatten returns the fields of a mapping with merge keys (<<) applied:
// the mapping's own keys first, then those of merged mappings that it
// does not override (earlier merged mappings win over later ones, as in
// the YAML merge key specification). Duplicate keys are reported.
//
// Results are memoised per node, so a mapping merged many times (through
// aliases of aliases) is walked once.
func (f *file) flatten(n *yaml.Node, inprog map[*yaml.Node]bool) []field {
	if fs, ok := f.l.flat[n]; ok {
		return fs
	}
	if inprog[n] {
		f.errAt(n, "merge key (<<) makes this mapping include itself")
		return nil
	}
	inprog[n] = true
	defer delete(inprog, n)
	f.spend(len(n.Content)/2 + 1)
	var own, merged []field
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			mv := f.resolve(v)
			switch {
			case mv == nil:
			case mv.Kind == yaml.MappingNode:
				merged = append(merged, f.flatten(mv, inprog)...)
			case mv.Kind == yaml.SequenceNode:
				for _, it := range mv.Content {
					mi := f.resolve(it)
					if mi == nil {
						continue
					}
					if mi.Kind != yaml.MappingNode {
						f.errAt(it, "merge key (<<) needs a mapping or a list of mappings, found %s in the list", describe(mi))
						continue
					}
					merged = append(merged, f.flatten(mi, inprog)...)
				}
			default:
				f.errAt(v, "merge key (<<) needs a mapping or a list of mappings, found %s", describe(mv))
			}
			continue
		}
		kr := f.resolve(k)
		if kr == nil {
			continue
		}
		if kr.Kind != yaml.ScalarNode {
			f.errAt(k, "a field name must be a plain string, found %s", describe(kr))
			continue
		}
		if prev := seen[kr.Value]; prev != nil {
			f.errAt(k, "duplicate field %q (first at line %d)", kr.Value, prev.Line)
			continue
		}
		seen[kr.Value] = k
		own = append(own, field{key: kr.Value, keyNode: k, val: v})
	}
	out := own
	for _, m := range merged {
		if seen[m.key] != nil {
			continue
		}
		seen[m.key] = m.keyNode
		out = append(out, m)
	}
	f.l.flat[n] = out
	return out
}

// obj is a mapping checked against a list of allowed fields.
type obj struct {
	f       *file
	n       *yaml.Node
	what    string
	fields  map[string]field
	unknown int             // unknown fields found
	hinted  map[string]bool // field names suggested for unknown ones
}

// object checks that n is a mapping with only allowed fields (through
// aliases and merge keys), reporting unknown fields with a hint.
func (f *file) object(n *yaml.Node, what string, allowed []string) *obj {
	n = f.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		f.errAt(n, "%s must be a mapping, found %s", what, describe(n))
		return nil
	}
	o := &obj{f: f, n: n, what: what, fields: map[string]field{}, hinted: map[string]bool{}}
	for _, fl := range f.flatten(n, map[*yaml.Node]bool{}) {
		if what == "matrix" && strings.HasPrefix(fl.key, "x-") {
			continue // extension fields: a place for anchors
		}
		if !contains(allowed, fl.key) {
			o.unknown++
			msg := fmt.Sprintf("unknown field %q in %s", fl.key, what)
			if h := nearest(fl.key, allowed); h != "" {
				o.hinted[h] = true
				msg += fmt.Sprintf("; did you mean %q?", h)
			} else {
				msg += "; valid fields: " + strings.Join(allowed, ", ")
			}
			f.errAt(fl.keyNode, "%s", msg)
			continue
		}
		o.fields[fl.key] = fl
	}
	return o
}

// mapping checks that n is a mapping (through aliases and merge keys)
// whose keys are data rather than field names, such as the architectures
// of arch-fragments. It returns an obj holding every key, for the caller
// to judge and to read values from, and the keys in document order (own
// keys, then merged ones); nil when n is not a mapping.
func (f *file) mapping(n *yaml.Node, what string) (*obj, []field) {
	n = f.resolve(n)
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		f.errAt(n, "%s must be a mapping, found %s", what, describe(n))
		return nil, nil
	}
	o := &obj{f: f, n: n, what: what, fields: map[string]field{}, hinted: map[string]bool{}}
	keys := f.flatten(n, map[*yaml.Node]bool{})
	for _, fl := range keys {
		o.fields[fl.key] = fl
	}
	return o, keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (o *obj) has(key string) bool { _, ok := o.fields[key]; return ok }

// val returns the resolved value of a field, or nil when absent.
func (o *obj) val(key string) *yaml.Node {
	fl, ok := o.fields[key]
	if !ok {
		return nil
	}
	return o.f.resolve(fl.val)
}

func (o *obj) keyNode(key string) *yaml.Node { return o.fields[key].keyNode }

// missing reports a missing required field, unless an unknown field
// was already reported with this one as its likely meaning.
func (o *obj) missing(key string) {
	if o.hinted[key] {
		return
	}
	o.f.errAt(o.n, "missing required field %q in %s", key, o.what)
}

func (o *obj) typeErr(key string, n *yaml.Node, want string) {
	o.f.errAt(n, "field %q in %s must be %s, found %s", key, o.what, want, describe(n))
}

// scalarString accepts a string, or a number written as text (so that
// name: 6.12 is "6.12", exactly as written).
func isStringy(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!timestamp":
		return true
	}
	return false
}

// str returns a string field; ok is false when absent or invalid.
func (o *obj) str(key string) (string, *yaml.Node, bool) {
	n := o.val(key)
	if n == nil {
		return "", nil, false
	}
	if !isStringy(n) {
		o.typeErr(key, n, "a string")
		return "", n, false
	}
	return n.Value, n, true
}

// nonEmpty is str that also rejects "".
func (o *obj) nonEmpty(key string) (string, *yaml.Node, bool) {
	s, n, ok := o.str(key)
	if ok && strings.TrimSpace(s) == "" {
		o.f.errAt(n, "field %q in %s is empty", key, o.what)
		return "", n, false
	}
	return s, n, ok
}

// required is nonEmpty that reports a missing field.
func (o *obj) required(key string) (string, *yaml.Node, bool) {
	if !o.has(key) {
		o.missing(key)
		return "", nil, false
	}
	return o.nonEmpty(key)
}

// strList returns a list of strings; each item's node is returned too.
func (o *obj) strList(key string) ([]string, []*yaml.Node, bool) {
	n := o.val(key)
	if n == nil {
		return nil, nil, false
	}
	if n.Kind != yaml.SequenceNode {
		want := "a list of strings"
		if isStringy(n) {
			want += fmt.Sprintf(" (write [%s])", n.Value)
		}
		o.typeErr(key, n, want)
		return nil, nil, false
	}
	var out []string
	var nodes []*yaml.Node
	ok := true
	for _, it := range n.Content {
		r := o.f.resolve(it)
		if r == nil {
			ok = false
			continue
		}
		if !isStringy(r) {
			o.f.errAt(r, "items of field %q in %s must be strings, found %s", key, o.what, describe(r))
			ok = false
			continue
		}
		out = append(out, r.Value)
		nodes = append(nodes, r)
	}
	return out, nodes, ok
}

// list returns the items of a list field.
func (o *obj) list(key string) ([]*yaml.Node, bool) {
	n := o.val(key)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		o.typeErr(key, n, "a list")
		return nil, false
	}
	return n.Content, true
}

func (o *obj) integer(key string) (int, *yaml.Node, bool) {
	n := o.val(key)
	if n == nil {
		return 0, nil, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		o.typeErr(key, n, "an integer")
		return 0, n, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 32)
	if err != nil {
		o.f.errAt(n, "field %q in %s: %s is not a usable integer", key, o.what, n.Value)
		return 0, n, false
	}
	return int(v), n, true
}

func (o *obj) duration(key string) (time.Duration, *yaml.Node, bool) {
	n := o.val(key)
	if n == nil {
		return 0, nil, false
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		o.f.errAt(n, "field %q in %s must be a duration such as 90s, 5m or 1h30m, found %s without a unit", key, o.what, describe(n))
		return 0, n, false
	}
	if !isStringy(n) {
		o.typeErr(key, n, "a duration such as 90s, 5m or 1h30m")
		return 0, n, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		o.f.errAt(n, "field %q in %s must be a positive duration such as 90s, 5m or 1h30m, found %q", key, o.what, n.Value)
		return 0, n, false
	}
	return d, n, true
}

// enum returns a string field that must be one of vals.
func (o *obj) enum(key string, vals []string) (string, *yaml.Node, bool) {
	s, n, ok := o.str(key)
	if !ok {
		return "", n, false
	}
	if !contains(vals, s) {
		msg := fmt.Sprintf("field %q in %s must be %s, found %q", key, o.what, quoteList(vals), s)
		if h := nearest(s, vals); h != "" {
			msg += fmt.Sprintf("; did you mean %q?", h)
		}
		o.f.errAt(n, "%s", msg)
		return "", n, false
	}
	return s, n, true
}

var sizeRE = regexp.MustCompile(`^([0-9]+)\s*([KMGT]i?B?|[kmgt])?$`)

// size returns a memory size in MiB: an integer is MiB; a string carries a
// unit K, M, G or T (binary units; "Mi", "MiB", "MB" read the same).
func (o *obj) sizeMiB(key string) (int, *yaml.Node, bool) {
	n := o.val(key)
	if n == nil {
		return 0, nil, false
	}
	bad := func() (int, *yaml.Node, bool) {
		o.f.errAt(n, "field %q in %s must be a size such as 512M or 2G, found %s", key, o.what, describe(n))
		return 0, n, false
	}
	if !isStringy(n) {
		return bad()
	}
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(n.Value))
	if m == nil {
		return bad()
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return bad()
	}
	if v > 1<<30 {
		return bad()
	}
	unit := strings.ToUpper(m[2])
	if unit == "" {
		unit = "M"
	}
	var mib int64
	switch unit[0] {
	case 'K':
		if v%1024 != 0 {
			o.f.errAt(n, "field %q in %s must be a whole number of MiB, found %q", key, o.what, n.Value)
			return 0, n, false
		}
		mib = v / 1024
	case 'M':
		mib = v
	case 'G':
		mib = v << 10
	case 'T':
		mib = v << 20
	}
	if mib <= 0 || mib > 1<<24 {
		o.f.errAt(n, "field %q in %s must be between 1M and 16T, found %q", key, o.what, n.Value)
		return 0, n, false
	}
	return int(mib), n, true
}
