package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// defaultSuiteTimeout applies to suites whose manifest entry has none.
const defaultSuiteTimeout = 10 * time.Minute

// loadManifest reads and checks the manifest at file. Unknown fields are
// errors: the host and the agent are built from the same proto package, so
// a mismatch is a bug worth stopping for. Every problem found is reported.
func loadManifest(file string) (*proto.Manifest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m proto.Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding manifest %s: %w", file, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decoding manifest %s: trailing data after the manifest", file)
	}
	if err := checkManifest(&m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", file, err)
	}
	return &m, nil
}

// checkManifest returns every problem of m, joined.
func checkManifest(m *proto.Manifest) error {
	var errs []error
	if m.Modules != nil && (m.Modules.Release == "" || strings.Contains(m.Modules.Release, "/")) {
		errs = append(errs, fmt.Errorf("modules: bad release %q", m.Modules.Release))
	}
	if m.Modules != nil && m.Modules.Shared != "" && (m.Root == nil || !path.IsAbs(m.Modules.Shared) || path.Clean(m.Modules.Shared) != m.Modules.Shared) {
		errs = append(errs, fmt.Errorf("modules: shared tree %q needs a shared root and a clean absolute path", m.Modules.Shared))
	}
	if m.Heartbeat < 0 {
		errs = append(errs, errors.New("negative heartbeat interval"))
	}
	seen := map[string]bool{}
	for i, s := range m.Suites {
		where := fmt.Sprintf("suite %d (%q)", i, s.Name)
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("suite %d: no name", i))
		} else if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[s.Name] = true
		if s.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s: negative timeout", where))
		}
		switch s.Format {
		case "", proto.FormatExitCode, proto.FormatTAP, proto.FormatKTAP, proto.FormatConsole:
		case proto.FormatGo:
			if m.Test2JSON == "" && s.Skip == "" {
				errs = append(errs, fmt.Errorf("%s: format %q needs the manifest's test2json path", where, s.Format))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: unknown format %q", where, s.Format))
		}
		if s.Skip != "" {
			continue // a skipped suite need not be runnable
		}
		if len(s.Argv) == 0 {
			errs = append(errs, fmt.Errorf("%s: empty argv", where))
		} else if !path.IsAbs(s.Argv[0]) && (m.Root == nil || s.Initramfs || strings.Contains(s.Argv[0], "/")) {
			errs = append(errs, fmt.Errorf("%s: argv[0] %q is not an absolute path (nor, in a shared root, a program name)", where, s.Argv[0]))
		}
		if s.Workdir != "" && !path.IsAbs(s.Workdir) {
			errs = append(errs, fmt.Errorf("%s: workdir %q is not an absolute path", where, s.Workdir))
		}
	}
	return errors.Join(errs...)
}

// suiteTimeout is the deadline of s.
func suiteTimeout(s proto.Suite) time.Duration {
	if s.Timeout <= 0 {
		return defaultSuiteTimeout
	}
	return time.Duration(s.Timeout)
}
