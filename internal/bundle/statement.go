// Package bundle turns a run's stream of findings into one signed, chained
// evidence bundle that an auditor can verify offline with openssl: a DSSE
// envelope around an in-toto Statement v1 whose subjects are the assessed
// scopes (cloud accounts) and whose predicate carries every finding, the
// requirement roll-up and the coverage of the run. docs/evidence-format.md is
// the contract; this package is its reference implementation.
//
// Findings stream through a Writer into a spool file so memory stays flat
// while a run collects; Seal assembles and signs the payload; State keeps the
// hash chain across restarts; Verify checks signatures, subject digests and
// the chain.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	intoto "github.com/in-toto/attestation/go/v1"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// The fixed identifiers of the format.
const (
	// PayloadType is the DSSE payload type of every envelope.
	PayloadType = "application/vnd.in-toto+json"
	// StatementType is the in-toto Statement version the payload is.
	StatementType = intoto.StatementTypeUri
	// PredicateType names and versions our predicate. A change that an
	// existing verifier would misread gets a new version; adding a field
	// does not (verifiers ignore fields they do not know).
	PredicateType = "https://eucs-agent.dev/evidence/v1"
	// ManifestPredicateType is the predicate of a run that was too large
	// for one bundle: it carries the run's metadata, roll-up and chain link,
	// and its subjects are the run's parts, by payload digest.
	ManifestPredicateType = "https://eucs-agent.dev/evidence-manifest/v1"
	// PartPredicateType is the predicate of one part of such a run: a slice
	// of its coverage and findings, with the part's own per-scope subjects.
	PartPredicateType = "https://eucs-agent.dev/evidence-part/v1"
)

// The payload is built from these structs with encoding/json rather than from
// the in-toto protobuf types. intoto.Statement carries its predicate as a
// structpb.Struct, which would need the whole predicate (every finding) as
// an in-memory tree and would turn every number into a float64, and
// protojson deliberately varies its whitespace. The payload is therefore
// streamed from the spool in the in-toto v1 layout, and the in-toto types are
// used where they fit: the statement type constant and validation of each
// subject as an intoto.ResourceDescriptor, on both the writing and the
// verifying side.

// subject is one in-toto ResourceDescriptor: a scope and its evidence digest.
type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// validateSubject checks a subject with in-toto's own rules (a name, URI or
// digest; known digests hex of the right length), then ours: a name and a
// lowercase hex sha256.
func validateSubject(s subject) error {
	rd := &intoto.ResourceDescriptor{Name: s.Name, Digest: s.Digest}
	if err := rd.Validate(); err != nil {
		return err
	}
	if s.Name == "" {
		return errors.New("no name")
	}
	d, ok := s.Digest["sha256"]
	if !ok {
		return errors.New("no sha256 digest")
	}
	if !isDigest(d) {
		return fmt.Errorf("sha256 digest %q is not 64 lowercase hex characters", d)
	}
	return nil
}

// isDigest reports whether s is a lowercase hex SHA-256.
func isDigest(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// runInfo identifies the run a bundle seals.
type runInfo struct {
	ID string `json:"id"`
	// Started and Finished are RFC 3339 in UTC.
	Started      string `json:"started"`
	Finished     string `json:"finished"`
	AgentVersion string `json:"agent_version"`
}

// chainLink ties a bundle to the one before it.
type chainLink struct {
	// ID names the chain among a service's chains: "" (omitted) for an
	// agent that assesses the whole estate, "shard-<index>" for each
	// replica of a sharded one.
	ID       string `json:"id,omitempty"`
	Sequence uint64 `json:"sequence"`
	Previous string `json:"previous"`
}

// predicate is the verifier's view of the predicate. Findings stay raw: the
// verifier canonicalises each itself instead of trusting any decoding.
type predicate struct {
	Run          *runInfo           `json:"run"`
	Service      string             `json:"service"`
	Level        controls.Level     `json:"level"`
	Chain        *chainLink         `json:"chain"`
	Requirements []controls.Result  `json:"requirements"`
	Coverage     []finding.Coverage `json:"coverage"`
	Findings     []json.RawMessage  `json:"findings"`
}

// statement is the verifier's view of the payload.
type statement struct {
	Type          string     `json:"_type"`
	Subject       []subject  `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     *predicate `json:"predicate"`
}

// partRun names the run a part belongs to.
type partRun struct {
	ID string `json:"id"`
}

// partPosition is a part's place among its run's parts, from 1.
type partPosition struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// partsSummary is what a manifest says about its parts as a whole.
type partsSummary struct {
	Count    int `json:"count"`
	Findings int `json:"findings"`
	Coverage int `json:"coverage"`
	Scopes   int `json:"scopes"`
}

// manifestPredicate is the verifier's view of a manifest's predicate.
type manifestPredicate struct {
	Run          *runInfo          `json:"run"`
	Service      string            `json:"service"`
	Level        controls.Level    `json:"level"`
	Chain        *chainLink        `json:"chain"`
	Requirements []controls.Result `json:"requirements"`
	Parts        *partsSummary     `json:"parts"`
}

// partPredicate is the verifier's view of a part's predicate.
type partPredicate struct {
	Run      *partRun           `json:"run"`
	Sequence uint64             `json:"sequence"`
	Part     *partPosition      `json:"part"`
	Coverage []finding.Coverage `json:"coverage"`
	Findings []json.RawMessage  `json:"findings"`
}

// partSubjectName is the name a manifest gives its part with index i (from
// 1): zero-padded so that the names sort in part order.
func partSubjectName(i int) string { return fmt.Sprintf("part-%06d", i) }

// digestHex returns the lowercase hex SHA-256 of b.
func digestHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
