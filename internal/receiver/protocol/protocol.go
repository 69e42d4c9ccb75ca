// Package protocol is the wire contract between the agent's
// certification_body exporter and eucs-receiver: the paths, the JSON error
// body and its codes, and the signed receipt. It is small on purpose, so the
// agent can import it without pulling in the receiver's storage.
// docs/receiver.md describes the same contract for people.
package protocol

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
)

// PathBundles is where an agent POSTs a bundle, or a split run's
// manifest; the tenant is the one its client certificate maps to.
const PathBundles = "/v1/bundles"

// PathParts is where an agent PUTs each part of a split run, under its
// payload digest (PartPath); the manifest follows to PathBundles.
const PathParts = "/v1/parts"

// PartPath is the path a part with the given payload digest is PUT to.
func PartPath(digest string) string { return PathParts + "/" + digest }

// Error codes of the JSON error body. They are part of the contract: the
// exporter decides from the status code whether to retry, and people and
// scripts read the code.
const (
	CodeMalformed      = "malformed_json"    // 400: the body is not a DSSE envelope
	CodeTooLarge       = "payload_too_large" // 413: the body is over the receiver's limit
	CodeBadSignature   = "bad_signature"     // 422: the signature does not verify with the tenant's key
	CodeInvalidBundle  = "invalid_bundle"    // 422: signed, but not a sound evidence bundle (or manifest and parts)
	CodeInvalidPart    = "invalid_part"      // 422: a part upload that is not a part of a split run
	CodeBadChainID     = "bad_chain_id"      // 422: predicate.chain.id is not a valid chain id
	CodeDigestMismatch = "digest_mismatch"   // 400: a part's payload digest is not the one its path names
	CodeMissingParts   = "missing_parts"     // 424: a manifest names parts not received yet; upload them, send it again
	CodePendingFull    = "pending_full"      // 507: the tenant's parts waiting for a manifest are at the receiver's limit
	CodeUnknownKey     = "unknown_key"       // 403: no key of the tenant signed it
	CodeKeyNotValid    = "key_not_valid"     // 403: the tenant's key is revoked or outside its validity window
	CodeWrongTenant    = "wrong_tenant"      // 403: the request names a tenant the client certificate is not
	CodeUnknownClient  = "unknown_client"    // 403: the client certificate maps to no tenant or auditor
	CodeNotATenant     = "not_a_tenant"      // 403: an auditor tried to submit evidence
	CodeFork           = "fork"              // 409: the sequence already holds a different bundle
	CodeBrokenChain    = "broken_chain"      // 409: previous does not match the stored neighbour
	CodeNotFound       = "not_found"         // 404
	CodeBadRequest     = "bad_request"       // 400: a malformed query or path parameter
	CodeInternal       = "internal"          // 500: details are in the receiver's log only
)

// StatusMissingParts is the status of a CodeMissingParts answer (424
// Failed Dependency): not a refusal of the manifest, which is accepted
// once the parts listed in Error.Missing have been uploaded.
const StatusMissingParts = 424

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Message string `json:"error"`
	Code    string `json:"code"`
	// Missing lists, with CodeMissingParts, the payload digests of the
	// parts the receiver lacks, in part order.
	Missing []string `json:"missing,omitempty"`
}

// Part states a PartAck reports.
const (
	PartPending = "pending" // held, waiting for the manifest that names it
	PartStored  = "stored"  // a stored manifest names it
)

// PartAck is the answer to a part upload (200 if the receiver held the
// part already, 201 if it holds it now). It is not a receipt: the
// manifest's receipt covers its parts, which the manifest names by
// payload digest.
type PartAck struct {
	Tenant        string `json:"tenant"`
	PayloadDigest string `json:"payload_digest"`
	Size          int64  `json:"size"`
	// Status is PartPending or PartStored.
	Status string `json:"status"`
}

// Error makes the body usable as a Go error on the client side.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Receipts.
const (
	// ReceiptPayloadType is the DSSE payload type of a receipt.
	ReceiptPayloadType = "application/vnd.eucs-agent.receipt+json"
	// ReceiptType names and versions the receipt payload.
	ReceiptType = "https://eucs-agent.dev/receipt/v1"
	// ReceivedLayout is how Receipt.Received is written: RFC 3339 in UTC
	// with a fixed number of fractional digits, so that times sort as text.
	ReceivedLayout = "2006-01-02T15:04:05.000000Z"
)

// Chain states a receipt records for the bundle at the time it was received.
const (
	ChainStart  = "start"  // sequence 1: the chain begins here
	ChainLinked = "linked" // the previous bundle is stored and matches
	ChainGap    = "gap"    // the previous bundle has not been received (yet)
)

// Receipt is what the receiver signs when it has stored a bundle: proof for
// the provider of what the certification body got and when.
type Receipt struct {
	Type string `json:"_type"`
	// Tenant is the cloud service the bundle was filed under.
	Tenant string `json:"tenant"`
	// ChainID is the bundle's chain.id: which replica's chain of a sharded
	// agent it is in; omitted for an unsharded agent's.
	ChainID string `json:"chain_id,omitempty"`
	// Sequence is the bundle's chain.sequence.
	Sequence uint64 `json:"sequence"`
	// PayloadDigest is the lowercase hex SHA-256 of the bundle's decoded
	// payload, the digest the next bundle names as its previous.
	PayloadDigest string `json:"payload_digest"`
	// Previous is the bundle's chain.previous.
	Previous string `json:"previous"`
	// KeyID is the id of the agent key that signed the bundle.
	KeyID string `json:"key_id"`
	// Received is when the receiver stored the bundle (ReceivedLayout).
	Received string `json:"received"`
	// Chain is ChainStart, ChainLinked or ChainGap.
	Chain string `json:"chain"`
}

// SignReceipt encodes r and signs it as a DSSE envelope, one line of JSON
// with a newline, in the same layout as evidence bundles.
func SignReceipt(ctx context.Context, s bundle.Signer, r Receipt) ([]byte, error) {
	r.Type = ReceiptType
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode receipt: %w", err)
	}
	es, err := dsse.NewEnvelopeSigner(s)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	env, err := es.SignPayload(ctx, ReceiptPayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode receipt envelope: %w", err)
	}
	return append(out, '\n'), nil
}

// ParseReceipt decodes a receipt envelope. With a non-nil pub it also
// checks the signature; without one it only decodes, for agents that were
// not given the receiver's key.
func ParseReceipt(data []byte, pub *ecdsa.PublicKey) (Receipt, error) {
	env, err := DecodeEnvelope(data)
	if err != nil {
		return Receipt{}, fmt.Errorf("receipt: %w", err)
	}
	if env.PayloadType != ReceiptPayloadType {
		return Receipt{}, fmt.Errorf("receipt: payload type is %q, want %q", env.PayloadType, ReceiptPayloadType)
	}
	var payload []byte
	if pub != nil {
		if payload, err = VerifyEnvelope(env, pub); err != nil {
			return Receipt{}, fmt.Errorf("receipt: %w", err)
		}
	} else if payload, err = base64.StdEncoding.DecodeString(env.Payload); err != nil {
		return Receipt{}, fmt.Errorf("receipt: payload is not standard base64: %w", err)
	}
	var r Receipt
	if err := json.Unmarshal(payload, &r); err != nil {
		return Receipt{}, fmt.Errorf("receipt: %w", err)
	}
	if r.Type != ReceiptType {
		return Receipt{}, fmt.Errorf("receipt: _type is %q, want %q", r.Type, ReceiptType)
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Received); err != nil {
		return Receipt{}, fmt.Errorf("receipt: received %q is not an RFC 3339 time", r.Received)
	}
	return r, nil
}

// DecodeEnvelope parses a DSSE envelope and checks that it has a payload
// and at least one signature.
func DecodeEnvelope(data []byte) (*dsse.Envelope, error) {
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	switch {
	case env.PayloadType == "":
		return nil, errors.New("not a DSSE envelope: no payloadType")
	case env.Payload == "":
		return nil, errors.New("not a DSSE envelope: no payload")
	case len(env.Signatures) == 0:
		return nil, errors.New("not a DSSE envelope: no signatures")
	}
	return &env, nil
}

// ErrSignature is returned (wrapped) by VerifyEnvelope when no signature
// verifies, as opposed to an envelope that cannot be read at all.
var ErrSignature = errors.New("signature does not verify")

// VerifyEnvelope checks that a signature carrying pub's key id verifies
// over the DSSE pre-authentication encoding, and returns the decoded
// payload. Payload and signatures must be standard base64, as in bundles.
func VerifyEnvelope(env *dsse.Envelope, pub *ecdsa.PublicKey) ([]byte, error) {
	keyID, err := bundle.KeyID(pub)
	if err != nil {
		return nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload is not standard base64: %w", err)
	}
	sum := sha256.Sum256(dsse.PAE(env.PayloadType, payload))
	for _, s := range env.Signatures {
		if s.KeyID != keyID {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("signature is not standard base64: %w", err)
		}
		if ecdsa.VerifyASN1(pub, sum[:], sig) {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w with key %s", ErrSignature, keyID)
}

// KeyIDs lists the key ids an envelope's signatures claim, in order.
func KeyIDs(env *dsse.Envelope) []string {
	ids := make([]string, 0, len(env.Signatures))
	for _, s := range env.Signatures {
		ids = append(ids, s.KeyID)
	}
	return ids
}

// PayloadDigest returns the lowercase hex SHA-256 of an envelope's decoded
// payload: the digest bundles are chained and receipted by.
func PayloadDigest(env *dsse.Envelope) (string, []byte, error) {
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return "", nil, fmt.Errorf("payload is not standard base64: %w", err)
	}
	sum := sha256.Sum256(payload)
	return fmt.Sprintf("%x", sum), payload, nil
}
