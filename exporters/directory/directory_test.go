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

func TestPartsListAfterTheirManifestInChainOrder(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, seq := range []uint64{1, 3} {
		if err := e.Export(ctx, exporters.Bundle{Sequence: seq, Envelope: []byte{byte(seq)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{10, 2, 1} {
		if err := e.ExportPart(ctx, 2, i, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Export(ctx, exporters.Bundle{Sequence: 2, Envelope: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	want := []string{FileName(1), FileName(2), PartFileName(2, 1), PartFileName(2, 2), PartFileName(2, 10), FileName(3)}
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v (lexical order must be chain order, each manifest before its parts)", names, want)
	}
	if want := "bundle-000000000002.part-000010.dsse.json"; PartFileName(2, 10) != want {
		t.Errorf("PartFileName(2, 10) = %s, want %s", PartFileName(2, 10), want)
	}
}

func TestPartsOfAnInterruptedRunAreReplacedButNeverOnceTheManifestIsStored(t *testing.T) {
	e, err := New(Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.ExportPart(ctx, 5, 1, []byte("first attempt")); err != nil {
		t.Fatal(err)
	}
	if err := e.ExportPart(ctx, 5, 1, []byte("retry")); err != nil {
		t.Errorf("replacing an orphan part: %v", err)
	}
	if err := e.ExportPart(ctx, 5, 1, []byte("retry")); err != nil {
		t.Errorf("re-exporting the same part: %v", err)
	}
	if err := e.Export(ctx, exporters.Bundle{Sequence: 5, Envelope: []byte("manifest")}); err != nil {
		t.Fatal(err)
	}
	err = e.ExportPart(ctx, 5, 1, []byte("another"))
	if err == nil || !strings.Contains(err.Error(), "already holds a different part and") || !strings.Contains(err.Error(), "refusing to overwrite evidence") {
		t.Errorf("overwrite under a stored manifest: %v", err)
	}
	if got, _ := os.ReadFile(e.PartPath(5, 1)); string(got) != "retry" {
		t.Errorf("part changed to %q", got)
	}
}
