package matrices

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	version "github.com/hashicorp/go-version"
)

// kernelVersionRE matches the numeric part of a kernel version: MAJOR.MINOR,
// optionally .SUBLEVEL and (for 2.6.x.y-era kernels) a fourth number. What
// follows is examined by ParseKernelVersion.
var kernelVersionRE = regexp.MustCompile(`^[vV]?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(.*)$`)

// rcRE finds a release-candidate suffix right after the numbers:
// "-rc1", "-rc10", "rc3", ".rc2", "~rc4".
var rcRE = regexp.MustCompile(`^[-.~_]?[rR][cC][-.]?([0-9]+)`)

// ParseKernelVersion normalises a kernel version string so that go-version
// compares it the way kernel developers do, and returns it.
//
//   - "6.12", "v6.12", "6.12.0" are the same version (6.12.0);
//   - "6.12-rc1", "6.12.0-rc10" are release candidates of 6.12.0, ordered by
//     their number (rc9 < rc10) and before the release (6.12-rc10 < 6.12);
//   - distribution and local suffixes are dropped: "6.1.192-1~deb12u1",
//     "6.1.0-26-amd64", "6.12.57+", "6.12.0-rc1-00012-gdeadbeef" compare as
//     6.1.192, 6.1.0, 6.12.57 and 6.12.0-rc1.
//
// The result is MAJOR.MINOR.SUBLEVEL[.N] with prerelease "rc.N" for release
// candidates (go-version compares dot-separated prerelease parts
// numerically, which gives rc9 < rc10).
func ParseKernelVersion(s string) (*version.Version, error) {
	t := strings.TrimSpace(s)
	m := kernelVersionRE.FindStringSubmatch(t)
	if m == nil {
		return nil, fmt.Errorf("%q is not a kernel version (want MAJOR.MINOR[.SUBLEVEL][-rcN][suffix], such as 6.12, 6.12.3 or 6.13-rc1)", s)
	}
	nums := make([]string, 0, 4)
	for _, p := range m[1:5] {
		if p == "" {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("%q is not a kernel version: number %s is too large", s, p)
		}
		nums = append(nums, strconv.FormatUint(n, 10))
	}
	if len(nums) == 2 {
		nums = append(nums, "0")
	}
	norm := strings.Join(nums, ".")
	rest := m[5]
	if rc := rcRE.FindStringSubmatch(rest); rc != nil {
		n, err := strconv.ParseUint(rc[1], 10, 31)
		if err != nil {
			return nil, fmt.Errorf("%q is not a kernel version: rc number %s is too large", s, rc[1])
		}
		norm += "-rc." + strconv.FormatUint(n, 10)
	} else if rest != "" && !strings.ContainsRune("-+~_", rune(rest[0])) {
		return nil, fmt.Errorf("%q is not a kernel version: unexpected %q after the version numbers", s, rest)
	}
	v, err := version.NewVersion(norm)
	if err != nil { // cannot happen with the normalised form, but do not panic
		return nil, fmt.Errorf("%q is not a kernel version: %v", s, err)
	}
	return v, nil
}

// Constraint is a kernel version constraint: go-version syntax (comma
// separated, each with an operator =, !=, >, >=, <, <=, ~>) whose versions
// are kernel versions as ParseKernelVersion reads them. Unlike go-version's
// own Constraints.Check, a release candidate is compared by its position
// between releases: 6.13-rc1 satisfies ">= 6.12" and "< 6.13".
type Constraint struct {
	text  string
	parts []constraintPart
}

type constraintPart struct {
	op       string
	v        *version.Version
	segments int // numeric segments written, for ~>
}

var constraintPartRE = regexp.MustCompile(`^(=|==|!=|>=|<=|>|<|~>)?\s*(\S+)$`)

// ParseConstraint parses a kernel version constraint such as ">= 6.12",
// ">= 6.1, < 6.13" or "~> 6.12.0".
func ParseConstraint(s string) (*Constraint, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty constraint")
	}
	c := &Constraint{text: s}
	for _, raw := range strings.Split(s, ",") {
		p := strings.TrimSpace(raw)
		if p == "" {
			return nil, fmt.Errorf("malformed constraint %q: empty part between commas", s)
		}
		m := constraintPartRE.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("malformed constraint %q: %q is not OPERATOR VERSION (operators: = != > >= < <= ~>)", s, p)
		}
		v, err := ParseKernelVersion(m[2])
		if err != nil {
			return nil, fmt.Errorf("malformed constraint %q: %v", s, err)
		}
		op := m[1]
		if op == "" || op == "==" {
			op = "="
		}
		segs := 0
		if mm := kernelVersionRE.FindStringSubmatch(m[2]); mm != nil {
			for _, x := range mm[1:5] {
				if x != "" {
					segs++
				}
			}
		}
		c.parts = append(c.parts, constraintPart{op: op, v: v, segments: segs})
	}
	return c, nil
}

// String returns the constraint as written.
func (c *Constraint) String() string { return c.text }

// Check reports whether v satisfies every part of the constraint.
func (c *Constraint) Check(v *version.Version) bool {
	for _, p := range c.parts {
		if !p.check(v) {
			return false
		}
	}
	return true
}

func (p constraintPart) check(v *version.Version) bool {
	cmp := v.Compare(p.v)
	switch p.op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case "~>":
		// go-version's pessimistic operator: at least p.v, and the same
		// leading segments except the last one written ("~> 6.12.3" is
		// ">= 6.12.3, < 6.13"; "~> 6.12" is ">= 6.12, < 7").
		if cmp < 0 {
			return false
		}
		vs, cs := v.Segments(), p.v.Segments()
		for i := 0; i < p.segments-1 && i < len(cs); i++ {
			if i >= len(vs) || vs[i] != cs[i] {
				return false
			}
		}
		return true
	}
	return false
}

// CheckKernelVersion reports whether the kernel version string satisfies
// the constraint string. An empty constraint is satisfied by anything.
func CheckKernelVersion(constraint, kernelVersion string) (bool, error) {
	if strings.TrimSpace(constraint) == "" {
		return true, nil
	}
	c, err := ParseConstraint(constraint)
	if err != nil {
		return false, err
	}
	if kernelVersion == "" {
		return false, errors.New("the kernel version is not known")
	}
	v, err := ParseKernelVersion(kernelVersion)
	if err != nil {
		return false, err
	}
	return c.Check(v), nil
}

// ---- reading the version from a kernel source --------------------------

// MakefileReader returns the top-level Makefile of a kernel source:
// DIR/Makefile for a path, the Makefile member of a tarball, REF:Makefile
// of a local git repository. It is how Load learns the version of a kernel
// whose matrix entry gives none: matrices reads VERSION, PATCHLEVEL,
// SUBLEVEL and EXTRAVERSION from it but never opens an archive or runs a
// program itself; the builder supplies a reader that does
// (builder.SourceMakefile). Load never calls it for a remote git
// repository. Its error is shown after "cannot read the version of kernel
// NAME: ", so it should name what could not be read.
type MakefileReader func(src Source) ([]byte, error)

// DefaultMakefileReader is the reader of a Load whose LoadOptions name
// none (Load, LoadFiles and LoadBuiltin among them). It is ReadPathMakefile
// unless the program installs another, once, before loading anything:
// kvmtest's command installs the builder's, so every matrix it loads reads
// tarballs and git refs alike.
var DefaultMakefileReader MakefileReader = ReadPathMakefile

// ReadPathMakefile reads DIR/Makefile of a path source; for a tarball or a
// git source it returns an error that says to declare the version.
func ReadPathMakefile(src Source) ([]byte, error) {
	if src.Path == "" {
		return nil, fmt.Errorf("reading the Makefile of a %s source needs a Makefile reader (LoadOptions.ReadMakefile)", src.Kind())
	}
	return os.ReadFile(filepath.Join(src.Path, "Makefile"))
}

// versionFromMakefile computes the kernel version from the top-level
// Makefile the way the kernel's own KERNELVERSION does:
// VERSION.PATCHLEVEL.SUBLEVEL followed by EXTRAVERSION.
func versionFromMakefile(data []byte) (string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 0; sc.Scan() && n < 50; n++ { // the variables are at the top
		line := sc.Text()
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		switch k {
		case "VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION":
			if _, seen := vars[k]; !seen {
				vars[k] = strings.TrimSpace(v)
			}
		}
	}
	if vars["VERSION"] == "" || vars["PATCHLEVEL"] == "" {
		return "", errors.New("no VERSION/PATCHLEVEL in the top-level Makefile: not a kernel source")
	}
	s := vars["VERSION"] + "." + vars["PATCHLEVEL"]
	if vars["SUBLEVEL"] != "" {
		s += "." + vars["SUBLEVEL"]
	}
	s += vars["EXTRAVERSION"]
	if _, err := ParseKernelVersion(s); err != nil {
		return "", fmt.Errorf("the Makefile gives version %q: %v", s, err)
	}
	return s, nil
}

// SourceVersion reads the kernel version of src from its top-level
// Makefile with read (DefaultMakefileReader when nil). A remote git
// repository is refused without calling read: its Makefile cannot be read
// without fetching it. So is a prebuilt kernel: it has no Makefile, and
// nothing of it (image, .deb, package) is read at plan time; its version
// is known only when the matrix gives one.
func SourceVersion(src Source, read MakefileReader) (string, error) {
	switch {
	case src.Kind() == "":
		return "", errors.New("kernel has no source")
	case src.Git != nil && isRemote(src.Git.Repo):
		return "", fmt.Errorf("cannot read the Makefile of remote repository %s without fetching it", src.Git.Repo)
	case src.Kind() == "prebuilt":
		return "", errors.New("a prebuilt image is not read before its cells run, so its version is unknown at plan time")
	case src.Kind() == "deb":
		return "", errors.New("a .deb is not unpacked before its cells are built, so its version is unknown at plan time")
	case src.Kind() == "package":
		return "", fmt.Errorf("package %s is fetched only when its cells are built, so its version is unknown at plan time", src.Prebuilt.Package)
	}
	if read == nil {
		read = DefaultMakefileReader
	}
	if read == nil {
		read = ReadPathMakefile
	}
	data, err := read(src)
	if err != nil {
		return "", err
	}
	return versionFromMakefile(data)
}

// ResolveVersion returns k.Version, reading it from the source's Makefile
// with read (see SourceVersion) and storing it in k.Version when it is
// empty.
func (k *Kernel) ResolveVersion(read MakefileReader) (string, error) {
	if k.Version != "" {
		return k.Version, nil
	}
	v, err := SourceVersion(k.Source, read)
	if err != nil {
		return "", err
	}
	k.Version = v
	return v, nil
}
