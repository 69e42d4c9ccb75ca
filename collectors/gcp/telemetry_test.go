package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/api/googleapi"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/collectors/collectortest"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

// collectIn runs c under ctx to completion, ends parent and returns what
// c emitted.
func collectIn(t *testing.T, ctx context.Context, parent trace.Span, c *Collector) *recorder {
	t.Helper()
	rec := &recorder{}
	if err := c.Collect(ctx, rec); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	parent.End()
	return rec
}

// TestScopeSpans collects two projects, one refusing its bucket listing
// and the other throttling its KMS listing: every scanner in every project
// is one span under Collect's, with the scope's attributes, and the two
// refused scopes are errors with their reason. The client libraries' HTTP
// spans, which take the tracer of the span in their context, nest under
// the scopes.
func TestScopeSpans(t *testing.T) {
	const other = "test-project-2"
	e := testEstate()
	e.Projects = append(e.Projects, &gcpsim.Project{ID: other, Number: 222222222222})
	c, sim := startSim(t, e, nil)
	sim.Inject(gcpsim.Fault{Project: testProject, Service: "storage", Method: "buckets.list", Kind: gcpsim.AccessDenied})
	sim.Inject(gcpsim.Fault{Project: other, Service: "cloudkms", Method: "locations.list", Kind: gcpsim.Throttle})
	spans, ctx, parent := collectortest.Traced(c)
	collectIn(t, ctx, parent, c)

	failed := map[string]finding.Reason{
		testProject + "/buckets": finding.AccessDenied,
		other + "/crypto_keys":   finding.Throttled,
	}
	var want, got []string
	for _, p := range e.Projects {
		for _, sc := range scanners() {
			want = append(want, p.ID+"/"+sc.area)
		}
	}
	services := map[string]string{}
	for _, sc := range scanners() {
		services[sc.area] = sc.service
	}
	for _, s := range collectortest.Named(spans, "gcp.scope") {
		a := collectortest.Attrs(s.Attributes())
		key := a["project"] + "/" + a["area"]
		got = append(got, key)
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%s: parent %s, want Collect's span %s", key, s.Parent().SpanID(), parent.SpanContext().SpanID())
		}
		if a["provider"] != Provider || a["account"] != a["project"] || a["service"] != services[a["area"]] {
			t.Errorf("%s: attributes %v, want provider %s, account the project, service %s", key, a, Provider, services[a["area"]])
		}
		reason, fails := failed[key]
		if fails != (s.Status().Code == codes.Error) || a["reason"] != string(reason) {
			t.Errorf("%s: status %v, reason %q; want an error: %v, reason %q", key, s.Status(), a["reason"], fails, reason)
		}
		if fails && len(s.Events()) == 0 {
			t.Errorf("%s: an error span without the error recorded", key)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("scope spans %v, want one per project and scanner %v", got, want)
	}
	scopes := map[trace.SpanID]bool{}
	for _, s := range collectortest.Named(spans, "gcp.scope") {
		scopes[s.SpanContext().SpanID()] = true
	}
	requests := 0
	for _, s := range spans.Ended() {
		if strings.HasPrefix(s.Name(), "HTTP ") {
			requests++
			if !scopes[s.Parent().SpanID()] {
				t.Errorf("request span %s %v is not under a scope", s.Name(), s.Attributes())
			}
		}
	}
	if requests == 0 {
		t.Error("no request spans: the client libraries no longer trace their requests")
	}
	collectortest.NoSecret(t, spans, testToken)
}

// TestDiscoverySpan walks organisation 999 of shardEstate as replica 0 of
// 2, two projects excluded: one span under Collect's carries the counts
// the log line does, and a folder that cannot be listed is an event and
// an error on it.
func TestDiscoverySpan(t *testing.T) {
	shard := &collectors.Shard{Index: 0, Count: 2}
	excluded := []string{"shard-test-01", "shard-test-05"}
	e := shardEstate()
	var mine, others int64
	for _, p := range e.Projects {
		switch {
		case slices.Contains(excluded, p.ID):
		case shard.Owns(p.ID):
			mine++
		default:
			others++
		}
	}
	if mine == 0 || others == 0 {
		t.Fatalf("shard %s assesses %d projects and leaves %d: pick one that does both", shard, mine, others)
	}
	for _, tc := range []struct {
		name   string
		denied bool
	}{
		{name: "every folder listed"},
		{name: "a folder refuses its listing", denied: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, sim := startSim(t, e, func(c *Config) {
				c.Projects, c.Organization, c.ExcludeProjects, c.Shard = nil, "999", excluded, shard
			})
			if tc.denied {
				sim.Inject(gcpsim.Fault{Service: "cloudresourcemanager", Method: "projects.list", Resource: "folders%2F12", Kind: gcpsim.AccessDenied})
			}
			spans, ctx, parent := collectortest.Traced(c)
			collectIn(t, ctx, parent, c)

			found := collectortest.Named(spans, "gcp.discovery")
			if len(found) != 1 {
				t.Fatalf("%d discovery spans, want 1", len(found))
			}
			s := found[0]
			if s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("discovery span's parent %s, want Collect's span %s", s.Parent().SpanID(), parent.SpanContext().SpanID())
			}
			want := map[attribute.Key]string{
				"provider": Provider, "roots": "1", "shard": "0/2",
				"discovered": fmt.Sprint(len(e.Projects)), "assessed": fmt.Sprint(mine),
				"excluded": fmt.Sprint(len(excluded)), "other_shards": fmt.Sprint(others),
			}
			if got := collectortest.Attrs(s.Attributes()); !holdsAll(got, want) {
				t.Errorf("discovery span attributes %v, want %v", got, want)
			}
			var events []string
			for _, ev := range s.Events() {
				a := collectortest.Attrs(ev.Attributes)
				events = append(events, ev.Name+" "+a["parent"]+" "+a["reason"])
			}
			var wantEvents []string
			wantCode := codes.Unset
			if tc.denied {
				wantEvents, wantCode = []string{"parent not listed folders/12 access_denied"}, codes.Error
			}
			if !slices.Equal(events, wantEvents) || s.Status().Code != wantCode {
				t.Errorf("discovery span events %q, status %v; want %q, %v", events, s.Status(), wantEvents, wantCode)
			}
			if n := len(collectortest.Named(spans, "gcp.scope")); n != int(mine)*len(scanners()) {
				t.Errorf("%d scope spans, want %d for %d projects", n, int(mine)*len(scanners()), mine)
			}
			collectortest.NoSecret(t, spans, testToken)
		})
	}
}

// holdsAll reports whether got holds every key of want with its value.
func holdsAll(got, want map[attribute.Key]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestCollectWithoutTracerRecordsNothing collects, with a folder and a
// scope refused, from a collector that has no tracer: the span in
// Collect's context is left as it was, and the collector makes no span of
// its own. (The Google client libraries' otelhttp transport still traces
// each request under the span it finds in the request's context, as it
// did before scopes were traced.)
func TestCollectWithoutTracerRecordsNothing(t *testing.T) {
	e := shardEstate()
	c, sim := startSim(t, e, func(c *Config) { c.Projects, c.Organization = nil, "999" })
	sim.Inject(gcpsim.Fault{Service: "cloudresourcemanager", Method: "projects.list", Resource: "folders%2F12", Kind: gcpsim.AccessDenied})
	sim.Inject(gcpsim.Fault{Service: "storage", Kind: gcpsim.AccessDenied})
	spans, ctx, parent := collectortest.Traced(nil)
	collectIn(t, ctx, parent, c)
	for _, s := range spans.Ended() {
		if strings.HasPrefix(s.Name(), "gcp.") {
			t.Errorf("a collector without a tracer made span %s", s.Name())
		}
	}
	s := collectortest.Named(spans, "collector")[0]
	if len(s.Events()) != 0 || len(s.Attributes()) != 0 || s.Status().Code != codes.Unset {
		t.Errorf("the collector wrote on Collect's span: events %v, attributes %v, status %v", s.Events(), s.Attributes(), s.Status())
	}
}

// TestEndScope shows what a scope's span says of each way it ends: the
// reason the collector classifies, the error text the evidence keeps (an
// API key quoted in a URL redacted), and a sink failure without a reason.
func TestEndScope(t *testing.T) {
	const key = "AIzaSyD-secret"
	quoted := &url.Error{Op: "Get", URL: "https://storage.googleapis.com/storage/v1/b?key=" + key, Err: context.DeadlineExceeded}
	for _, tc := range []struct {
		name        string
		err, sink   error
		code        codes.Code
		reason      string
		description string
	}{
		{name: "assessed", code: codes.Unset},
		{name: "access denied", err: fmt.Errorf("list buckets: %w", &googleapi.Error{Code: 403, Message: "denied"}),
			code: codes.Error, reason: "access_denied", description: "list buckets: googleapi: Error 403: denied"},
		{name: "throttled", err: &googleapi.Error{Code: 403, Message: "quota", Errors: []googleapi.ErrorItem{{Reason: "rateLimitExceeded"}}},
			code: codes.Error, reason: "throttled", description: "googleapi: Error 403: quota\nMore details:\nReason: rateLimitExceeded, Message: \n"},
		{name: "timed out, an API key in the URL", err: fmt.Errorf("list buckets: %w", quoted),
			code: codes.Error, reason: "timed_out", description: `list buckets: Get "https://storage.googleapis.com/storage/v1/b?key=REDACTED": context deadline exceeded`},
		{name: "sink failed", err: errors.New("scan stopped"), sink: errors.New("keep finding x: disk full"),
			code: codes.Error, description: "keep finding x: disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans, ctx, _ := collectortest.Traced(nil)
			_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer("test").Start(ctx, "gcp.scope")
			endScope(span, tc.err, tc.sink)
			s := collectortest.Named(spans, "gcp.scope")[0]
			if s.Status().Code != tc.code || s.Status().Description != tc.description {
				t.Errorf("status %v %q, want %v %q", s.Status().Code, s.Status().Description, tc.code, tc.description)
			}
			if got := collectortest.Attrs(s.Attributes())["reason"]; got != tc.reason {
				t.Errorf("reason %q, want %q", got, tc.reason)
			}
			collectortest.NoSecret(t, spans, key)
		})
	}
}
