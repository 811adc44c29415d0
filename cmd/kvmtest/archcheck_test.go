package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// TestCheckArchTools: a missing cross compiler or QEMU is refused before
// anything is built, at the arch: list, with the Debian packages; what is
// there passes; a prebuilt kernel needs no compiler.
func TestCheckArchTools(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.yaml")
	writeFile(t, p, `name: m
arch: [x86_64, arm64]
kernels:
  - {name: k, version: "6.12", source: {path: `+dir+`}}
patchsets: [{name: base}]
configs: [{name: c, base: tinyconfig}]
suites: [{name: s, command: [/bin/true]}]
`)
	writeFile(t, filepath.Join(dir, "Makefile"), "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
	m, err := matrices.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func(f func(string) (string, error)) { lookPath = f }(lookPath)
	for _, tc := range []struct {
		name    string
		missing []string
		code    int
		want    string
	}{
		{"all there", nil, results.ExitOK, ""},
		{"no cross compiler", []string{"aarch64-linux-gnu-gcc"}, results.ExitBadInput,
			p + ":2:7: arch arm64: this host has no aarch64-linux-gnu-gcc: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"},
		{"no QEMU", []string{"qemu-system-aarch64"}, results.ExitBadInput, "arch arm64: this host has no qemu-system-aarch64: apt-get install qemu-system-arm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookPath = func(f string) (string, error) {
				for _, m := range tc.missing {
					if f == m {
						return "", errors.New("not found")
					}
				}
				return "/usr/bin/" + f, nil
			}
			var out bytes.Buffer
			if code := checkArchTools(&out, m, m.Cells()); code != tc.code || !strings.Contains(out.String(), tc.want) || (tc.want == "") != (out.Len() == 0) {
				t.Errorf("checkArchTools = %d, %q; want %d, %q", code, out.String(), tc.code, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
