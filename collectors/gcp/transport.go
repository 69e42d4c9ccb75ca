package gcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// transport gives every HTTP request to a Google API its own deadline and
// retries throttled and failed ones with backoff.
//
// It sits under every client, whichever library it comes from, for two
// reasons. The generated REST clients of cloud.google.com/go do not attach
// the caller's context to the requests of their list iterators, so without
// a deadline here a hung page would hang its scope past any timeout. And
// the libraries retry differently (storage on its own policy, the gapic
// clients on 503/504 only, google.golang.org/api not at all); one retry
// policy here, with the libraries' own switched off, makes max_attempts
// mean the same thing for every call.
//
// Every call the collector makes is a read, so every request may be
// repeated.
//
// Each attempt, the first and every retry, first waits for a token of the
// quota it draws on (see limiter), outside its call timeout. Each client has
// its own transport, which knows the client's service: with the endpoint
// overridden, Cloud KMS, Cloud SQL Admin and IAM share a host and a /v1
// prefix, so the request alone would not say.
type transport struct {
	next     http.RoundTripper
	service  string
	limits   *limiter
	calls    *callCounter
	timeout  time.Duration
	attempts int
	log      *slog.Logger
}

// Backoff bounds between attempts; the actual pause is drawn below the
// bound (full jitter) so that scopes throttled together do not retry in
// lockstep.
const (
	retryBaseDelay = 500 * time.Millisecond
	retryMaxDelay  = 20 * time.Second
)

// RoundTrip sends req, each attempt paced by the rate limiter and under the
// call timeout.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	call := callOf(t.service, req.Method, req.URL.Path)
	project := projectOf(req.Context())
	for attempt := 1; ; attempt++ {
		if err := t.limits.wait(req.Context(), project, call); err != nil {
			return nil, fmt.Errorf("wait for the %s:%s rate limit: %w", call.service, call.method, err)
		}
		ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
		r := req.Clone(ctx)
		if attempt > 1 && req.Body != nil {
			body, err := req.GetBody()
			if err != nil {
				cancel()
				return nil, err
			}
			r.Body = body
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			cancel()
			t.calls.count(t.service, false)
			return nil, err
		}
		throttled := resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode == http.StatusForbidden && rateLimited(resp))
		t.calls.count(t.service, throttled)
		retry := throttled || retryable(resp.StatusCode)
		if attempt >= t.attempts || !retry || (req.Body != nil && req.GetBody == nil) {
			// The deadline has to cover reading the body too, so it ends
			// when the caller closes it.
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil
		}
		pause := backoff(attempt, resp.Header.Get("Retry-After"))
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		t.log.Debug("retrying Google API call", "method", req.Method, "path", req.URL.Path,
			"status", resp.StatusCode, "attempt", attempt, "pause", pause)
		timer := time.NewTimer(pause)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
}

// retryable reports whether a status is worth another attempt: throttling
// and the server errors Google documents as transient.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxErrorBody is how much of an error body rateLimited reads.
const maxErrorBody = 64 << 10

// rateLimited reports whether a 403 answer is a rate limit rather than a
// denial: older APIs (Compute Engine among them) answer an exhausted rate
// quota with 403 and say so only in the body, as the reason of an error
// item (rateLimitExceeded, userRateLimitExceeded) or of an ErrorInfo
// detail (RATE_LIMIT_EXCEEDED), or as status RESOURCE_EXHAUSTED. Google
// asks for such calls to be tried again after a pause. A daily quota
// (quotaExceeded) is not retried: it does not refill within the run. The
// body is left for the caller to read as if untouched.
func rateLimited(resp *http.Response) bool {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	if err != nil {
		return false
	}
	var e struct {
		Error struct {
			Status string `json:"status"`
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	if e.Error.Status == "RESOURCE_EXHAUSTED" {
		return true
	}
	for _, item := range e.Error.Errors {
		if item.Reason == "rateLimitExceeded" || item.Reason == "userRateLimitExceeded" {
			return true
		}
	}
	for _, d := range e.Error.Details {
		if d.Reason == "RATE_LIMIT_EXCEEDED" {
			return true
		}
	}
	return false
}

// backoff is the pause after the given attempt: what the server asks for
// in Retry-After (seconds), or exponential with full jitter, never more
// than retryMaxDelay.
func backoff(attempt int, retryAfter string) time.Duration {
	if s, err := strconv.Atoi(retryAfter); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, retryMaxDelay)
	}
	bound := retryMaxDelay
	if attempt < 16 {
		bound = min(retryBaseDelay<<(attempt-1), retryMaxDelay)
	}
	return rand.N(bound) + 1
}

// cancelOnClose releases a request's deadline once its body is done with.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
