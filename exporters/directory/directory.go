// Package directory exports evidence bundles as files in a local directory,
// one file per bundle, named so that `ls` lists them in chain order. It is
// the agent's default exporter and the durable record every other exporter
// can be replayed from.
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

// FileName is the name of the bundle with the given sequence: zero-padded
// so that lexical order is chain order.
func FileName(seq uint64) string { return fmt.Sprintf("bundle-%012d.dsse.json", seq) }

// Path returns where the bundle with the given sequence is stored.
func (e *Exporter) Path(seq uint64) string { return filepath.Join(e.dir, FileName(seq)) }

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
