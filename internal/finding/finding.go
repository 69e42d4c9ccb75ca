// Package finding defines what a collector observes and how it travels: the
// Finding and Coverage records that every collector emits, the closed set of
// statuses and not-assessed reasons, and the Sink they are streamed into.
//
// Findings are streamed, never accumulated: a collector hands each one to a
// Sink as soon as it is known, so a run over a million resources keeps memory
// flat.
package finding

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
)

// Status is the outcome of one check on one resource.
type Status string

// The four honest outcomes. An error is never a pass and never a fail: it is
// NotAssessed with a Reason.
const (
	Pass          Status = "pass"
	Fail          Status = "fail"
	NotApplicable Status = "not_applicable"
	NotAssessed   Status = "not_assessed"
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case Pass, Fail, NotApplicable, NotAssessed:
		return true
	}
	return false
}

// Reason says why something was not assessed.
type Reason string

// The reasons a check or a scope can go unassessed.
const (
	AccessDenied Reason = "access_denied"
	Throttled    Reason = "throttled"
	TimedOut     Reason = "timed_out"
	APIError     Reason = "api_error"
)

// Valid reports whether r is one of the known reasons.
func (r Reason) Valid() bool {
	switch r {
	case AccessDenied, Throttled, TimedOut, APIError:
		return true
	}
	return false
}

// Finding is one check's verdict on one resource.
//
// The JSON field order is alphabetical on purpose: the encoding of a Finding
// (as internal/bundle writes it) is then already the canonical form auditors
// recompute subject digests from (sorted keys, no insignificant whitespace). Keep it so when
// adding fields.
type Finding struct {
	Account string `json:"account"`
	Check   string `json:"check"`
	// Detail is a short human sentence about the verdict, in our own words.
	Detail string `json:"detail,omitempty"`
	// Observed is the minimal excerpt of the API response that proves the
	// verdict. Values are strings, bools, integers, slices and nested maps;
	// maps marshal with sorted keys.
	Observed map[string]any `json:"observed,omitempty"`
	Provider string         `json:"provider"`
	// Reason is set exactly when Status is NotAssessed.
	Reason Reason `json:"reason,omitempty"`
	Region string `json:"region"`
	// Requirements are the EUCS requirement IDs this check evidences; the
	// mapping stage fills them in from the embedded check catalogue.
	Requirements []string `json:"requirements"`
	Resource     string   `json:"resource"`
	Service      string   `json:"service"`
	Status       Status   `json:"status"`
}

// Scope is the subject a finding belongs to in a bundle, e.g. "aws:123456789012".
func (f *Finding) Scope() string { return f.Provider + ":" + f.Account }

// CoverageStatus says whether a collection scope was assessed.
type CoverageStatus string

// Coverage outcomes.
const (
	Assessed   CoverageStatus = "assessed"
	NotCovered CoverageStatus = "not_assessed"
)

// Coverage records, per provider/account/region/service, whether the agent
// could look, and why not when it could not. Field order is alphabetical for
// the same reason as Finding's.
type Coverage struct {
	Account  string         `json:"account"`
	Detail   string         `json:"detail,omitempty"`
	Provider string         `json:"provider"`
	Reason   Reason         `json:"reason,omitempty"`
	Region   string         `json:"region"`
	Service  string         `json:"service"`
	Status   CoverageStatus `json:"status"`
}

// Sink receives the stream of a run. Implementations must be safe for
// concurrent use: collectors emit from many goroutines at once.
type Sink interface {
	// Finding takes one finding. An error means the run can no longer keep
	// evidence (a full disk, say) and the collector should stop.
	Finding(ctx context.Context, f Finding) error
	// Coverage takes one coverage record.
	Coverage(ctx context.Context, c Coverage) error
}

// APIErrorCoder is implemented by cloud SDK errors that carry a service error
// code (smithy-go's APIError, for one). Classify uses it without importing
// any SDK.
type APIErrorCoder interface {
	error
	ErrorCode() string
}

// Classify maps an error from a cloud API call to the reason it leaves a
// check unassessed. codes maps provider-specific error codes to reasons; a
// code not in it, like any other error, is an APIError.
func Classify(err error, codes map[string]Reason) Reason { return ClassifyCode(err, "", codes) }

// ClassifyCode is Classify for SDKs that keep the error code in a field
// rather than behind an ErrorCode method (Azure's ResponseError) or that
// carry several codes of which the caller picks one (Google's API errors).
// An empty code falls back to the error's own ErrorCode, as Classify does.
func ClassifyCode(err error, code string, codes map[string]Reason) Reason {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return TimedOut
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return TimedOut
	}
	if code == "" {
		var coder APIErrorCoder
		if errors.As(err, &coder) {
			code = coder.ErrorCode()
		}
	}
	if r, ok := codes[code]; ok {
		return r
	}
	return APIError
}

// StatusOf is the verdict of a check that either holds or does not.
func StatusOf(ok bool) Status {
	if ok {
		return Pass
	}
	return Fail
}

// ErrorDetail is the text kept in a not-assessed finding: the error's message,
// bounded so one chatty API cannot bloat a bundle.
func ErrorDetail(err error) string {
	const max = 512
	s := err.Error()
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// Validate checks the invariants every emitted finding must hold.
func (f *Finding) Validate() error {
	var errs []error
	if f.Check == "" {
		errs = append(errs, errors.New("check is empty"))
	}
	if f.Provider == "" {
		errs = append(errs, errors.New("provider is empty"))
	}
	if f.Account == "" {
		errs = append(errs, errors.New("account is empty"))
	}
	if !f.Status.Valid() {
		errs = append(errs, fmt.Errorf("status %q is not one of pass, fail, not_applicable, not_assessed", f.Status))
	}
	if f.Status == NotAssessed && !f.Reason.Valid() {
		errs = append(errs, fmt.Errorf("status not_assessed needs a reason, got %q", f.Reason))
	}
	if f.Status != NotAssessed && f.Reason != "" {
		errs = append(errs, fmt.Errorf("reason %q set on status %s", f.Reason, f.Status))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("finding %s on %q: %w", f.Check, f.Resource, err)
	}
	return nil
}
