package results

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A run.json of schema 1 with every field set reads and writes back byte
// for byte: a renamed or dropped field (a break of the documented
// contract) fails here.
func TestSchemaV1RoundTrip(t *testing.T) {
	want, err := os.ReadFile("testdata/run-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "run.json"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("run.json of schema 1 does not round-trip:\n%s", got)
	}
}

func TestReadRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"schema": 99, "cells": []}`), 0o644)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("schema 99: %v", err)
	}
}

// Every field of run.json is documented in docs/results.md, as `name` in
// the table of its object.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/results.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	if want := fmt.Sprintf("schema version %d", SchemaVersion); !strings.Contains(text, want) {
		t.Errorf("docs/results.md does not say %q", want)
	}
	for _, name := range jsonFields(reflect.TypeOf(Run{}), "") {
		leaf := name[strings.LastIndex(name, ".")+1:]
		if !strings.Contains(text, "`"+leaf+"`") {
			t.Errorf("run.json field %s is not documented in docs/results.md", name)
		}
	}
}

// jsonFields lists the JSON field paths of a struct type.
func jsonFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, prefix+tag)
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() {
			out = append(out, jsonFields(ft, prefix+tag+".")...)
		}
	}
	return out
}
