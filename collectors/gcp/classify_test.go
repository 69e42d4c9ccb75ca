package gcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

func TestClassify(t *testing.T) {
	gerr := func(code int, reasons ...string) error {
		e := &googleapi.Error{Code: code, Message: "m"}
		for _, r := range reasons {
			e.Errors = append(e.Errors, googleapi.ErrorItem{Reason: r})
		}
		return e
	}
	wrappedREST := func(code int) error {
		ae, ok := apierror.FromError(gerr(code))
		if !ok {
			t.Fatalf("apierror.FromError(%d) failed", code)
		}
		return fmt.Errorf("list disks: %w", ae)
	}
	grpcErr := func(c codes.Code) error {
		ae, ok := apierror.FromError(status.Error(c, "m"))
		if !ok {
			t.Fatalf("apierror.FromError(%s) failed", c)
		}
		return ae
	}
	tests := []struct {
		name string
		err  error
		want finding.Reason
	}{
		{"403 PERMISSION_DENIED", gerr(403, "forbidden"), finding.AccessDenied},
		{"401 UNAUTHENTICATED", gerr(401, "authError"), finding.AccessDenied},
		{"403 API not enabled", gerr(403, "accessNotConfigured"), finding.AccessDenied},
		{"429 RESOURCE_EXHAUSTED", gerr(429, "rateLimitExceeded"), finding.Throttled},
		{"403 rateLimitExceeded, as older APIs answer", gerr(403, "rateLimitExceeded"), finding.Throttled},
		{"403 userRateLimitExceeded", gerr(403, "userRateLimitExceeded"), finding.Throttled},
		{"403 quotaExceeded", gerr(403, "quotaExceeded"), finding.Throttled},
		{"500 backendError", gerr(500, "backendError"), finding.APIError},
		{"404 notFound", gerr(404, "notFound"), finding.APIError},
		{"wrapped googleapi error", fmt.Errorf("list buckets: %w", gerr(403)), finding.AccessDenied},
		{"gapic REST error (apierror around googleapi)", wrappedREST(403), finding.AccessDenied},
		{"gapic REST throttling", wrappedREST(429), finding.Throttled},
		{"gRPC PermissionDenied", grpcErr(codes.PermissionDenied), finding.AccessDenied},
		{"gRPC ResourceExhausted", grpcErr(codes.ResourceExhausted), finding.Throttled},
		{"gRPC DeadlineExceeded", grpcErr(codes.DeadlineExceeded), finding.TimedOut},
		{"bare gRPC status", status.Error(codes.Unauthenticated, "m"), finding.AccessDenied},
		{"context deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), finding.TimedOut},
		{"HTTP client timeout", &url.Error{Op: "Get", URL: "http://x", Err: os.ErrDeadlineExceeded}, finding.TimedOut},
		{"malformed body", errors.New("invalid character '<' looking for beginning of value"), finding.APIError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestRedactRemovesAPIKeys(t *testing.T) {
	in := `list buckets: Get "https://storage.googleapis.com/storage/v1/b?key=AIzaSyD-secret&project=p": context deadline exceeded`
	got := redact(in)
	if strings.Contains(got, "AIzaSyD-secret") || !strings.Contains(got, "key=REDACTED&project=p") {
		t.Errorf("redact = %q", got)
	}
}

func TestBackoff(t *testing.T) {
	if got := backoff(1, "3"); got != 3*time.Second {
		t.Errorf("Retry-After 3 = %s, want 3s", got)
	}
	if got := backoff(1, "3600"); got != retryMaxDelay {
		t.Errorf("Retry-After 3600 = %s, want the cap %s", got, retryMaxDelay)
	}
	for attempt := 1; attempt < 40; attempt++ {
		got := backoff(attempt, "")
		bound := min(retryBaseDelay<<min(attempt-1, 20), retryMaxDelay)
		if got <= 0 || got > bound {
			t.Errorf("attempt %d: pause %s, want within (0, %s]", attempt, got, bound)
		}
	}
	for _, code := range []int{http.StatusTooManyRequests, 500, 502, 503, 504} {
		if !retryable(code) {
			t.Errorf("%d is not retried", code)
		}
	}
	for _, code := range []int{400, 401, 403, 404, 409} {
		if retryable(code) {
			t.Errorf("%d is retried", code)
		}
	}
}

func TestRateLimitedTellsThrottlingFromDenial(t *testing.T) {
	tests := []struct {
		name, body string
		want       bool
	}{
		{"legacy error item", `{"error":{"code":403,"message":"m","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}]}}`, true},
		{"per-user rate limit", `{"error":{"code":403,"errors":[{"reason":"userRateLimitExceeded"}]}}`, true},
		{"status", `{"error":{"code":403,"status":"RESOURCE_EXHAUSTED"}}`, true},
		{"ErrorInfo detail", `{"error":{"code":403,"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}]}}`, true},
		{"permission denied", `{"error":{"code":403,"status":"PERMISSION_DENIED","errors":[{"reason":"forbidden"}]}}`, false},
		{"daily quota: does not refill within the run", `{"error":{"code":403,"errors":[{"reason":"quotaExceeded"}]}}`, false},
		{"not JSON", `<html>Forbidden</html>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: http.StatusForbidden, Body: io.NopCloser(strings.NewReader(tt.body))}
			if got := rateLimited(resp); got != tt.want {
				t.Errorf("rateLimited = %v, want %v", got, tt.want)
			}
			// The body is still there for the client to read.
			if rest, err := io.ReadAll(resp.Body); err != nil || string(rest) != tt.body {
				t.Errorf("body after rateLimited = %q, %v; want it whole", rest, err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestLocations(t *testing.T) {
	tests := []struct {
		name      string
		locations []string
		p         place
		want      bool
	}{
		{"region listed", []string{"europe-west1"}, placeAt("EUROPE-WEST1"), true},
		{"zone in a listed region", []string{"europe-west1"}, placeAt("europe-west1-b"), true},
		{"region not listed", []string{"europe-west1"}, placeAt("europe-west4"), false},
		{"multi-region named", []string{"EU"}, placeAt("eu"), true},
		{"multi-region not covered by regions", []string{"europe-west1", "europe-west4"}, placeAt("EU"), false},
		{"global named", []string{"global"}, placeAt("global"), true},
		{"global not covered by every region", []string{"europe-west1"}, placeAt("global"), false},
		{"dual-region by its regions", []string{"europe-west1", "europe-west4"}, place{name: "eu", regions: []string{"europe-west1", "europe-west4"}}, true},
		{"dual-region with one region missing", []string{"europe-west1"}, place{name: "eu", regions: []string{"europe-west1", "europe-west4"}}, false},
		{"nothing allowed", nil, placeAt("europe-west1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := covers(tt.locations, tt.p); got != tt.want {
				t.Errorf("covers(%v, %s) = %v, want %v", tt.locations, tt.p, got, tt.want)
			}
		})
	}
	for zone, want := range map[string]string{"europe-west1-b": "europe-west1", "northamerica-northeast1-a": "northamerica-northeast1"} {
		if got, ok := zoneRegion(zone); !ok || got != want {
			t.Errorf("zoneRegion(%q) = %q, %v; want %q", zone, got, ok, want)
		}
	}
	for _, notZone := range []string{"europe-west1", "eu", "nam-eur-asia1", "global"} {
		if _, ok := zoneRegion(notZone); ok {
			t.Errorf("zoneRegion(%q) took it for a zone", notZone)
		}
	}
}
