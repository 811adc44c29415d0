package builder

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	kconfigSymRe = regexp.MustCompile(`^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$`)
	dependsRe    = regexp.MustCompile(`^\s*depends\s+on\s+(.+?)\s*(?:#.*)?$`)
	ifRe         = regexp.MustCompile(`^if\s+(.+?)\s*(?:#.*)?$`)
	endifRe      = regexp.MustCompile(`^endif\b`)
	blockEndRe   = regexp.MustCompile(`^\s*(config|menuconfig|choice|endchoice|menu|endmenu|if|endif|source|comment)\b`)
	plainSymRe   = regexp.MustCompile(`^!?[A-Za-z0-9_]+$`)
)

// explainDeps finds where sym (without CONFIG_) is defined in the tree's
// Kconfig files and says which of its dependencies (its own `depends on`
// lines and the `if` blocks around it) the final config does not meet.
// It returns "" when it finds nothing to say.
func explainDeps(tree, srcarch, sym string, final map[string]string) string {
	var where string
	var deps []string
	filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || where != "" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "Documentation" || n == "tools" {
				return filepath.SkipDir
			}
			// Only the architecture being built: other arches define
			// the same symbols with other dependencies.
			if filepath.Dir(p) == filepath.Join(tree, "arch") && d.Name() != srcarch {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(d.Name(), "Kconfig") {
			return nil
		}
		w, ds := kconfigDeps(p, sym)
		if w > 0 {
			rel, _ := filepath.Rel(tree, p)
			where, deps = fmt.Sprintf("%s:%d", rel, w), ds
		}
		return nil
	})
	if where == "" {
		return fmt.Sprintf("no symbol %s in the tree's Kconfig files: misspelt, or not in this kernel version", sym)
	}
	var unmet []string
	for _, d := range deps {
		for _, term := range strings.Split(d, "&&") {
			term = strings.Trim(strings.TrimSpace(term), "()")
			if !plainSymRe.MatchString(term) {
				unmet = append(unmet, term) // an expression: show it as kconfig has it
				continue
			}
			neg := strings.HasPrefix(term, "!")
			v, ok := final["CONFIG_"+strings.TrimPrefix(term, "!")]
			set := ok && v != notSet && v != "n"
			if set == neg {
				state := "not set"
				if set {
					state = "set"
				}
				unmet = append(unmet, fmt.Sprintf("%s (%s)", term, state))
			}
		}
	}
	if len(unmet) == 0 {
		return "defined at " + where + "; its direct dependencies are met (a choice, a select or a menu dependency decides)"
	}
	return "defined at " + where + ", depends on " + strings.Join(unmet, ", ")
}

// kconfigDeps returns the line where sym is defined in a Kconfig file (0
// if it is not) and its dependencies: enclosing `if` conditions and its
// own `depends on` lines.
func kconfigDeps(path, sym string) (int, []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	var ifs []string
	sc := bufio.NewScanner(f)
	line, found := 0, 0
	var deps []string
	for sc.Scan() {
		line++
		t := sc.Text()
		if found > 0 {
			if m := dependsRe.FindStringSubmatch(t); m != nil {
				deps = append(deps, m[1])
				continue
			}
			if blockEndRe.MatchString(t) {
				break
			}
			continue
		}
		if m := kconfigSymRe.FindStringSubmatch(t); m != nil && m[1] == sym {
			found = line
			deps = append(deps, ifs...)
			continue
		}
		if m := ifRe.FindStringSubmatch(t); m != nil {
			ifs = append(ifs, m[1])
		} else if endifRe.MatchString(t) && len(ifs) > 0 {
			ifs = ifs[:len(ifs)-1]
		}
	}
	return found, deps
}
