package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/vmrunner/initramfs"
)

// guestSet is what goes into every initramfs of a run: the agent, test2json
// and the suite programs, compiled once for the guest.
type guestSet struct {
	Agent     string            // host path of the static agent
	Test2JSON string            // host path of a static cmd/test2json
	Suites    map[string]string // suite name -> host path of its program (go-test and binary suites)
}

// goEnv is the environment for compiling guest programs: static, for the
// guest's architecture.
func goEnv() []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

func goRun(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// buildGuest compiles the agent (from kvmtest's own source tree srcDir),
// test2json and every go-test suite of the matrices into dir.
func buildGuest(ctx context.Context, srcDir, dir string, suites []*matrices.Suite) (*guestSet, error) {
	if err := os.MkdirAll(filepath.Join(dir, "suites"), 0o755); err != nil {
		return nil, err
	}
	g := &guestSet{
		Agent:     filepath.Join(dir, "init"),
		Test2JSON: filepath.Join(dir, "test2json"),
		Suites:    map[string]string{},
	}
	if err := goRun(ctx, srcDir, "build", "-trimpath", "-o", g.Agent, "./guest/agent"); err != nil {
		return nil, fmt.Errorf("building the guest agent: %w", err)
	}
	if err := goRun(ctx, srcDir, "build", "-trimpath", "-o", g.Test2JSON, "cmd/test2json"); err != nil {
		return nil, fmt.Errorf("building test2json: %w", err)
	}
	for _, s := range suites {
		switch {
		case s.GoTest != "":
			out := filepath.Join(dir, "suites", s.Name+".test")
			if err := goRun(ctx, s.GoTest, "test", "-c", "-trimpath", "-o", out, "."); err != nil {
				return nil, fmt.Errorf("suite %s: compiling %s: %w", s.Name, s.GoTest, err)
			}
			g.Suites[s.Name] = out
		case s.Binary != "":
			g.Suites[s.Name] = s.Binary
		}
	}
	return g, nil
}

// guestSuitePath is where a suite's program lives in the guest.
func guestSuitePath(name string) string { return "/kvmtest/suites/" + name }

// manifestFor returns the agent's manifest for a cell; skip maps suite
// names to the reason they cannot run in this cell.
func manifestFor(cellID string, suites []*matrices.Suite, skip map[string]string) proto.Manifest {
	m := proto.Manifest{Cell: cellID, Test2JSON: "/kvmtest/bin/test2json"}
	for _, s := range suites {
		var argv []string
		switch {
		case len(s.Command) > 0:
			argv = append(argv, s.Command...)
		default:
			argv = append(argv, guestSuitePath(s.Name))
		}
		argv = append(argv, s.Args...)
		format := s.Format
		if format == "" {
			format = proto.FormatExitCode
			if s.GoTest != "" {
				format = proto.FormatGo
			}
		}
		m.Suites = append(m.Suites, proto.Suite{
			Name:    s.Name,
			Argv:    argv,
			Timeout: proto.Duration(s.Timeout),
			Format:  format,
			Skip:    skip[s.Name],
		})
	}
	return m
}

// writeInitramfs writes the cell's initramfs: the agent as /init, test2json,
// the suite programs, extra files and the manifest.
func writeInitramfs(path string, g *guestSet, suites []*matrices.Suite, man []byte) (string, error) {
	var a initramfs.Archive
	a.AddBaseDevices() // the Go runtime aborts without /dev/null or /dev/console
	if err := a.AddHostFile("/init", g.Agent, 0o755); err != nil {
		return "", err
	}
	if err := a.AddHostFile("/kvmtest/bin/test2json", g.Test2JSON, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/tmp", "/root"} {
		a.AddDir(d, 0o755)
	}
	for _, s := range suites {
		if p, ok := g.Suites[s.Name]; ok {
			if err := a.AddHostFile(guestSuitePath(s.Name), p, 0o755); err != nil {
				return "", err
			}
		}
		for _, f := range s.Files {
			if err := a.AddHostFile(f.Dst, f.Src, 0o755); err != nil {
				return "", fmt.Errorf("suite %s: %w", s.Name, err)
			}
		}
	}
	a.AddFile(proto.ManifestPath, 0o644, man)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := a.WriteTo(f); err != nil {
		f.Close()
		return "", fmt.Errorf("writing initramfs: %w", err)
	}
	return a.Digest(), f.Close()
}
