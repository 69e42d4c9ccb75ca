package gcp

import (
	"context"
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
type transport struct {
	next     http.RoundTripper
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

// RoundTrip sends req, each attempt under the call timeout.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
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
			return nil, err
		}
		if attempt >= t.attempts || !retryable(resp.StatusCode) || (req.Body != nil && req.GetBody == nil) {
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
