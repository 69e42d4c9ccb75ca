package azure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/collectors/collectortest"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
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

// TestScopeSpans collects three configured subscriptions (one spelt in
// upper case): sub1 refuses its storage listing, sub2 throttles its key
// vault listing and sub3 cannot be read at all. Every scan in every
// subscription is one span under Collect's, with the scope's attributes
// and the subscription in lower case; the refused scopes, and every scope
// of sub3, are errors with the reason their coverage record gives.
func TestScopeSpans(t *testing.T) {
	c, sim := startSim(t, threeSubscriptions(), func(c *Config) {
		c.Subscriptions = []string{strings.ToUpper(sub1), sub2, sub3}
	})
	sim.Inject(azuresim.Fault{Subscription: sub1, Service: "storage", Operation: "StorageAccounts_List", Kind: azuresim.AccessDenied})
	sim.Inject(azuresim.Fault{Subscription: sub2, Service: "keyvault", Operation: "Vaults_ListBySubscription", Kind: azuresim.Throttle, RetryAfter: time.Millisecond})
	sim.Inject(azuresim.Fault{Subscription: sub3, Service: "subscriptions", Operation: "Subscriptions_Get", Kind: azuresim.AccessDenied})
	spans, ctx, parent := collectortest.Traced(c)
	rec := collectIn(t, ctx, parent, c)

	failed := map[string]finding.Reason{
		sub1 + "/storage":  finding.AccessDenied,
		sub2 + "/keyvault": finding.Throttled,
	}
	var want, got []string
	for _, sub := range []string{sub1, sub2, sub3} {
		for _, sc := range scanners() {
			want = append(want, sub+"/"+sc.service)
			if sub == sub3 {
				failed[sub+"/"+sc.service] = finding.AccessDenied
			}
		}
	}
	coverage := map[string]finding.Coverage{}
	for _, cv := range rec.Covered {
		coverage[cv.Account+"/"+cv.Service] = cv
	}
	for _, s := range collectortest.Named(spans, "azure.scope") {
		a := collectortest.Attrs(s.Attributes())
		key := a["subscription"] + "/" + a["service"]
		got = append(got, key)
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%s: parent %s, want Collect's span %s", key, s.Parent().SpanID(), parent.SpanContext().SpanID())
		}
		if a["provider"] != Provider || a["account"] != a["subscription"] {
			t.Errorf("%s: attributes %v, want provider %s and the subscription as account", key, a, Provider)
		}
		reason, fails := failed[key]
		if fails != (s.Status().Code == codes.Error) || a["reason"] != string(reason) {
			t.Errorf("%s: status %v, reason %q; want an error: %v, reason %q", key, s.Status(), a["reason"], fails, reason)
		}
		if cv := coverage[key]; a["reason"] != string(cv.Reason) || fails != (cv.Status == finding.NotCovered) {
			t.Errorf("%s: span reason %q, but coverage %s/%q", key, a["reason"], cv.Status, cv.Reason)
		}
		if fails && len(s.Events()) == 0 {
			t.Errorf("%s: an error span without the error recorded", key)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("scope spans %v, want one per subscription and scan %v", got, want)
	}
	if n := len(collectortest.Named(spans, "azure.discovery")); n != 0 {
		t.Errorf("%d discovery spans for configured subscriptions, which are not discovered", n)
	}
	collectortest.NoSecret(t, spans, sim.Token())
}

// TestDiscoverySpan discovers the subscriptions of threeSubscriptions in
// the ways Collect can: one span under Collect's carries the counts the
// log line does, or the reason discovery failed.
func TestDiscoverySpan(t *testing.T) {
	// What replica 3 of 4 assesses, skips (sub3 is disabled) and leaves
	// to the others: one of each.
	shard := &collectors.Shard{Index: 3, Count: 4}
	var assessed, skipped, others int
	for _, sub := range []string{sub1, sub2, sub3} {
		switch {
		case !shard.Owns(sub):
			others++
		case sub == sub3:
			skipped++
		default:
			assessed++
		}
	}
	if assessed == 0 || skipped == 0 || others == 0 {
		t.Fatalf("shard %s assesses %d, skips %d and leaves %d subscriptions: pick one that does each", shard, assessed, skipped, others)
	}
	for _, tc := range []struct {
		name   string
		setup  func(*azuresim.Estate)
		config func(*Config)
		fault  azuresim.Fault
		// want are attributes the span must have (others may be there
		// too); reason, when set, makes it an error.
		want   map[attribute.Key]string
		reason finding.Reason
		scopes int
	}{
		{
			name:   "every readable subscription, one disabled, sharded",
			setup:  func(e *azuresim.Estate) { e.Subscriptions[2].State = "Disabled" },
			config: func(c *Config) { c.Shard = shard },
			want: map[attribute.Key]string{"provider": Provider, "shard": "3/4", "discovered": "3", "chosen": "3",
				"assessed": fmt.Sprint(assessed), "skipped": fmt.Sprint(skipped), "other_shards": fmt.Sprint(others)},
			scopes: assessed * len(scanners()),
		},
		{
			name:   "under a management group, less a group",
			config: func(c *Config) { c.ManagementGroup, c.Exclude = tenant, []string{"mg-other"} },
			want: map[attribute.Key]string{"provider": Provider, "shard": "all", "management_group": tenant,
				"discovered": "3", "chosen": "2", "assessed": "2", "skipped": "0", "other_shards": "0"},
			scopes: 2 * len(scanners()),
		},
		{
			name:   "listing refused",
			fault:  azuresim.Fault{Service: "subscriptions", Operation: "Subscriptions_List", Kind: azuresim.AccessDenied},
			want:   map[attribute.Key]string{"provider": Provider},
			reason: finding.AccessDenied,
		},
		{
			name:   "listing throttled",
			fault:  azuresim.Fault{Service: "subscriptions", Operation: "Subscriptions_List", Kind: azuresim.Throttle, RetryAfter: time.Millisecond},
			want:   map[attribute.Key]string{"provider": Provider},
			reason: finding.Throttled,
		},
		{
			name:   "no subscription readable",
			setup:  func(e *azuresim.Estate) { e.Subscriptions = nil },
			want:   map[attribute.Key]string{"provider": Provider, "discovered": "0"},
			reason: finding.AccessDenied,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := threeSubscriptions()
			if tc.setup != nil {
				tc.setup(e)
			}
			c, sim := startSim(t, e, tc.config)
			if tc.fault.Kind != 0 {
				sim.Inject(tc.fault)
			}
			spans, ctx, parent := collectortest.Traced(c)
			collectIn(t, ctx, parent, c)

			found := collectortest.Named(spans, "azure.discovery")
			if len(found) != 1 {
				t.Fatalf("%d discovery spans, want 1", len(found))
			}
			s := found[0]
			if s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("discovery span's parent %s, want Collect's span %s", s.Parent().SpanID(), parent.SpanContext().SpanID())
			}
			got := collectortest.Attrs(s.Attributes())
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			if got["reason"] != string(tc.reason) || (s.Status().Code == codes.Error) != (tc.reason != "") {
				t.Errorf("status %v, reason %q; want reason %q", s.Status(), got["reason"], tc.reason)
			}
			if n := len(collectortest.Named(spans, "azure.scope")); n != tc.scopes {
				t.Errorf("%d scope spans, want %d", n, tc.scopes)
			}
			collectortest.NoSecret(t, spans, sim.Token())
		})
	}
}

// TestCollectWithoutTracerRecordsNothing collects, with a subscription
// that cannot be read and a scope refused, from a collector that has no
// tracer: no span is made and the span in Collect's context is left as it
// was.
func TestCollectWithoutTracerRecordsNothing(t *testing.T) {
	c, sim := startSim(t, threeSubscriptions(), nil)
	sim.Inject(azuresim.Fault{Subscription: sub1, Service: "storage", Kind: azuresim.AccessDenied})
	sim.Inject(azuresim.Fault{Subscription: sub3, Service: "subscriptions", Operation: "Subscriptions_Get", Kind: azuresim.AccessDenied})
	spans, ctx, parent := collectortest.Traced(nil)
	collectIn(t, ctx, parent, c)
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want Collect's alone", len(ended))
	}
	if s := ended[0]; len(s.Events()) != 0 || len(s.Attributes()) != 0 || s.Status().Code != codes.Unset {
		t.Errorf("the collector wrote on Collect's span: events %v, attributes %v, status %v", s.Events(), s.Attributes(), s.Status())
	}
}

// TestEndScopeOnSinkFailure: a scope whose findings could not be kept is
// an error, but has no reason: the scope did not fail, the run did.
func TestEndScopeOnSinkFailure(t *testing.T) {
	spans, ctx, _ := collectortest.Traced(nil)
	_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer("test").Start(ctx, "azure.scope")
	endScope(span, errors.New("scan stopped"), errors.New("keep finding x: disk full"))
	s := collectortest.Named(spans, "azure.scope")[0]
	if s.Status().Code != codes.Error || s.Status().Description != "keep finding x: disk full" {
		t.Errorf("status %v, want the sink's failure", s.Status())
	}
	if r, ok := collectortest.Attrs(s.Attributes())["reason"]; ok {
		t.Errorf("reason %q on a sink failure", r)
	}
}
