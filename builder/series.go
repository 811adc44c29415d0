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

// SeriesPatches lists a series one patch per file, in order, as bisecting
// it needs: the files of SeriesFiles, except that a single mbox holding
// several messages (as `b4 am` writes) is split into one file per message
// under dir (created if needed).
func SeriesPatches(series, dir string) ([]string, error) {
	files, err := SeriesFiles(series)
	if err != nil || len(files) != 1 {
		return files, err
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return nil, fmt.Errorf("patch series: %w", err)
	}
	msgs := splitMbox(string(data))
	if len(msgs) < 2 {
		return files, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for i, m := range msgs {
		p := filepath.Join(dir, fmt.Sprintf("%04d.patch", i+1))
		if err := os.WriteFile(p, []byte(m), 0o644); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// splitMbox splits an mbox at its "From " separator lines (a line that
// starts with "From " at the start of the file or after a blank line).
func splitMbox(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	var msgs []string
	var cur strings.Builder
	prevBlank := true
	for _, l := range lines {
		if strings.HasPrefix(l, "From ") && prevBlank && cur.Len() > 0 {
			msgs = append(msgs, cur.String())
			cur.Reset()
		}
		cur.WriteString(l)
		prevBlank = strings.TrimSpace(l) == ""
	}
	if cur.Len() > 0 {
		msgs = append(msgs, cur.String())
	}
	if len(msgs) > 0 && !strings.HasPrefix(msgs[0], "From ") {
		return nil // not an mbox
	}
	return msgs
}

// PatchSubject returns a patch file's Subject header, unfolded, or "".
func PatchSubject(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var subj string
	in := false
	for n := 0; sc.Scan() && n < 200; n++ {
		l := sc.Text()
		if in {
			if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
				subj += " " + strings.TrimSpace(l)
				continue
			}
			return subj
		}
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			subj, in = strings.TrimSpace(v), true
		}
	}
	return subj
}
