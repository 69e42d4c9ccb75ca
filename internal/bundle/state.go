package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/eucs-agent/eucs-agent/internal/atomicfile"
)

// State is the chain's durable memory: the last sealed bundle. It is saved
// only after that bundle is safely stored, so a crash between the two at
// worst re-seals the same sequence, which the directory exporter refuses to
// overwrite, rather than leaving a gap.
type State struct {
	// Chain is the id of the chain (Link.Chain); "" for an unsharded
	// agent. An agent refuses to continue a chain under another id.
	Chain string `json:"chain,omitempty"`
	// Sequence of the last sealed bundle; 0 before the first.
	Sequence uint64 `json:"sequence"`
	// Digest is the lowercase hex SHA-256 of that bundle's payload.
	Digest string `json:"digest"`
}

// Next is the link of the bundle to seal after s.
func (s State) Next() Link { return Link{Chain: s.Chain, Sequence: s.Sequence + 1, Previous: s.Digest} }

// ShardChain is the chain id of replica index of a sharded agent. It names
// the replica, not the replica count, so that resharding from 3 replicas
// to 5 keeps replicas 0 to 2 on their chains.
func ShardChain(index int) string { return fmt.Sprintf("shard-%d", index) }

// ValidateChainID checks a chain id: empty, or 1 to 63 lowercase letters,
// digits and '-', starting with a letter or digit (it is a path segment
// and a database key at the receiver).
func ValidateChainID(id string) error {
	if id == "" {
		return nil
	}
	ok := len(id) <= 63 && id[0] != '-'
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("chain id %q must be 1 to 63 lowercase letters, digits and '-', not starting with '-'", id)
	}
	return nil
}

// validate checks what a state file must hold; a state that breaks these
// rules would make the next bundle unverifiable.
func (s State) validate() error {
	if err := ValidateChainID(s.Chain); err != nil {
		return err
	}
	switch {
	case s.Sequence == 0 && s.Digest != "":
		return fmt.Errorf("sequence is 0 but digest is %q", s.Digest)
	case s.Sequence > 0 && !isDigest(s.Digest):
		return fmt.Errorf("digest %q of sequence %d is not 64 lowercase hex characters", s.Digest, s.Sequence)
	}
	return nil
}

// LoadState reads the chain state. A missing file is the zero state (no
// bundle sealed yet); a file that exists but cannot be trusted is an error
// naming it, never silently a new chain.
func LoadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("load chain state: %w", err)
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return State{}, fmt.Errorf("chain state %s is corrupt: not a JSON object", path)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s State
	if err := dec.Decode(&s); err != nil {
		return State{}, fmt.Errorf("chain state %s is corrupt: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return State{}, fmt.Errorf("chain state %s is corrupt: unexpected data after the JSON object", path)
	}
	if err := s.validate(); err != nil {
		return State{}, fmt.Errorf("chain state %s is corrupt: %w", path, err)
	}
	return s, nil
}

// SaveState replaces the chain state atomically: a temporary file in the same
// directory is written and fsynced, renamed over path, and the directory is
// fsynced, so a crash leaves either the old state or the new one.
func SaveState(path string, s State) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("save chain state %s: %w", path, err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("save chain state %s: %w", path, err)
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("save chain state: %w", err)
	}
	return nil
}
