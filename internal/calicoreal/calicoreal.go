// Package calicoreal gives tests the real Calico material kept in its
// testdata/ (felix flow records and Calico's documented filters; see
// testdata/SOURCES.md for where each file came from).
//
// The files are embedded, so a test that uses them cannot run without them:
// a missing file fails the build or the test, it never skips. Tests that
// need a path on disk (a command's argument) get a copy in their temporary
// directory, so no test reads a path outside the module.
package calicoreal

import (
	"bytes"
	"embed"
	"os"
	"path/filepath"
	"testing"
)

//go:embed testdata
var files embed.FS

// Names of the files, for callers that want them spelled once.
const (
	FelixExample    = "flows-example-felix.jsonl"
	FelixTestdata   = "flows-felix-testdata.jsonl"
	ClinicMultitool = "flows-observability-clinic-multitool.jsonl"
	FakeLogGenTest  = "flows-fake-log-generator-test.jsonl"
	TextDocs        = "flows-text-tigera-docs.log"
	FlowFiltersDocs = "filters-flow-tigera-docs.conf"
	DNSFiltersDocs  = "filters-dns-calico-docs.conf"
)

// Read returns the file's bytes; it fails the test when there is no such file.
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := files.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatalf("calicoreal: %v", err)
	}
	return b
}

// Lines returns the file's non-blank lines.
func Lines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, l := range bytes.Split(Read(tb, name), []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// Path writes the file into the test's temporary directory and returns
// that copy's path.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, Read(tb, name), 0o644); err != nil {
		tb.Fatalf("calicoreal: %v", err)
	}
	return p
}

// Dir writes every file into one temporary directory and returns it.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	entries, err := files.ReadDir("testdata")
	if err != nil {
		tb.Fatalf("calicoreal: %v", err)
	}
	for _, e := range entries {
		if err := os.WriteFile(filepath.Join(dir, e.Name()), Read(tb, e.Name()), 0o644); err != nil {
			tb.Fatalf("calicoreal: %v", err)
		}
	}
	return dir
}
