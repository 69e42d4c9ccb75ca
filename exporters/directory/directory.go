// Package directory exports evidence bundles as files in a local directory,
// one file per bundle, named so that `ls` lists them in chain order. A run
// sealed as a manifest and parts is stored as the manifest under the
// bundle's name and each part beside it, so that `ls` lists a run's manifest
// and then its parts, runs in chain order. It is the agent's default
// exporter and the durable record every other exporter can be replayed
// from.
package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/internal/atomicfile"
)

// Config is the `exporters.directory` block of agent.yaml.
type Config struct {
	// Path is the directory bundles are written to; it is created if
	// missing.
	Path string `yaml:"path"`
}

// DefaultPath is where bundles go when the config names no directory.
const DefaultPath = "evidence"

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Path == "" {
		c.Path = DefaultPath
	}
}

// Validate reports problems with their YAML path relative to this block.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Path) == "" {
		return errors.New("path: must name a directory")
	}
	return nil
}

// Exporter writes bundles to a directory.
type Exporter struct {
	dir string
}

// New returns an exporter writing to cfg.Path, creating it if needed.
func New(cfg Config) (*Exporter, error) {
	if err := os.MkdirAll(cfg.Path, 0o750); err != nil {
		return nil, fmt.Errorf("create evidence directory: %w", err)
	}
	return &Exporter{dir: cfg.Path}, nil
}

// FileName is the name of the bundle (or manifest) with the given sequence:
// zero-padded so that lexical order is chain order.
func FileName(seq uint64) string { return fmt.Sprintf("bundle-%012d.dsse.json", seq) }

// PartFileName is the name of part index (from 1) of the run with the given
// sequence. It shares the manifest's prefix up to the sequence, and
// ".part-" sorts after ".dsse", so that `ls` lists the manifest, then its
// parts in order, then the next sequence.
func PartFileName(seq uint64, index int) string {
	return fmt.Sprintf("bundle-%012d.part-%06d.dsse.json", seq, index)
}

// Path returns where the bundle with the given sequence is stored.
func (e *Exporter) Path(seq uint64) string { return filepath.Join(e.dir, FileName(seq)) }

// PartPath returns where part index of the run with the given sequence is
// stored.
func (e *Exporter) PartPath(seq uint64, index int) string {
	return filepath.Join(e.dir, PartFileName(seq, index))
}

// Name identifies the exporter.
func (e *Exporter) Name() string { return "directory" }

// Export writes b atomically. Evidence is never overwritten: if a different
// bundle already holds b's sequence the export fails, and writing the same
// bundle again is a no-op.
func (e *Exporter) Export(_ context.Context, b exporters.Bundle) error {
	p := e.Path(b.Sequence)
	existing, err := os.ReadFile(p)
	switch {
	case err == nil && bytes.Equal(existing, b.Envelope):
		return nil
	case err == nil:
		return fmt.Errorf("export bundle %d: %s already holds a different bundle; refusing to overwrite evidence", b.Sequence, p)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("export bundle %d: %w", b.Sequence, err)
	}
	if err := atomicfile.Write(p, b.Envelope, 0o640); err != nil {
		return fmt.Errorf("export bundle %d: %w", b.Sequence, err)
	}
	return nil
}

// ExportPart writes part index of the run with sequence seq atomically. The
// agent writes every part before the manifest, and a part is evidence only
// once a manifest names it: so a part file that differs is overwritten
// while no manifest holds seq (it is a leftover of a run that was
// interrupted before its manifest was stored), and refused once one does.
// Writing the same part again is a no-op.
func (e *Exporter) ExportPart(_ context.Context, seq uint64, index int, envelope []byte) error {
	p := e.PartPath(seq, index)
	existing, err := os.ReadFile(p)
	switch {
	case err == nil && bytes.Equal(existing, envelope):
		return nil
	case err == nil:
		if _, merr := os.Stat(e.Path(seq)); merr == nil {
			return fmt.Errorf("export part %d of bundle %d: %s already holds a different part and %s is stored; refusing to overwrite evidence", index, seq, p, e.Path(seq))
		} else if !errors.Is(merr, os.ErrNotExist) {
			return fmt.Errorf("export part %d of bundle %d: %w", index, seq, merr)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("export part %d of bundle %d: %w", index, seq, err)
	}
	if err := atomicfile.Write(p, envelope, 0o640); err != nil {
		return fmt.Errorf("export part %d of bundle %d: %w", index, seq, err)
	}
	return nil
}
