package directory

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/exporters"
)

func TestExportWritesOneFilePerBundleInChainOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evidence")
	e, err := New(Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, seq := range []uint64{10, 2, 1, 100} {
		if err := e.Export(ctx, exporters.Bundle{Sequence: seq, Envelope: []byte{byte(seq)}}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	want := []string{FileName(1), FileName(2), FileName(10), FileName(100)}
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v (lexical order must be chain order)", names, want)
	}
	got, _ := os.ReadFile(e.Path(10))
	if len(got) != 1 || got[0] != 10 {
		t.Errorf("bundle 10 holds %v", got)
	}
}

func TestExportNeverOverwritesEvidence(t *testing.T) {
	e, err := New(Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := exporters.Bundle{Sequence: 1, Envelope: []byte(`{"a":1}`)}
	if err := e.Export(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := e.Export(ctx, b); err != nil {
		t.Errorf("re-exporting the same bundle: %v", err)
	}
	err = e.Export(ctx, exporters.Bundle{Sequence: 1, Envelope: []byte(`{"a":2}`)})
	if err == nil || !strings.Contains(err.Error(), "already holds a different bundle; refusing to overwrite evidence") {
		t.Errorf("overwrite: %v", err)
	}
	got, _ := os.ReadFile(e.Path(1))
	if string(got) != `{"a":1}` {
		t.Errorf("evidence changed to %s", got)
	}
}

func TestValidateNamesThePath(t *testing.T) {
	c := Config{Path: "  "}
	if err := c.Validate(); err == nil || err.Error() != "path: must name a directory" {
		t.Errorf("Validate() = %v", err)
	}
}
