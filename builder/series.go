package builder

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SeriesFiles lists the patch files of a series, in the order they apply.
// A series is one of:
//   - a directory of `git format-patch` files (*.patch, *.diff), applied in name order;
//     a directory holding a quilt `series` file uses that file instead;
//   - a quilt `series` file: one patch name per line, relative to its directory,
//     '#' comments and blank lines ignored;
//   - a single patch or mbox file (as `b4 am` writes): patch(1) applies every
//     diff in it, in order.
func SeriesFiles(series string) ([]string, error) {
	fi, err := os.Stat(series)
	if err != nil {
		return nil, fmt.Errorf("patch series: %w", err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(series, "series")); err == nil {
			return quiltSeries(filepath.Join(series, "series"))
		}
		ents, err := os.ReadDir(series)
		if err != nil {
			return nil, fmt.Errorf("patch series: %w", err)
		}
		var out []string
		for _, e := range ents {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".patch") || strings.HasSuffix(e.Name(), ".diff")) {
				out = append(out, filepath.Join(series, e.Name()))
			}
		}
		sort.Strings(out)
		if len(out) == 0 {
			return nil, fmt.Errorf("patch series %s: no *.patch or *.diff files", series)
		}
		return out, nil
	}
	if filepath.Base(series) == "series" {
		return quiltSeries(series)
	}
	return []string{series}, nil
}

func quiltSeries(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("patch series: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		name := strings.Fields(line)[0] // quilt allows options such as -p1 after the name
		p := filepath.Join(filepath.Dir(file), name)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("patch series %s: empty", file)
	}
	return out, sc.Err()
}
