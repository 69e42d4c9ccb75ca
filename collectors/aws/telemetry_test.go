package aws

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// callTally is what CountCalls reports, per service.
type callTally struct {
	mu               sync.Mutex
	calls, throttles map[string]int64
}

func (c *callTally) count(service string, throttled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[service]++
	if throttled {
		c.throttles[service]++
	}
}

func TestCountCallsSeesEveryAttemptAndThrottlingPerService(t *testing.T) {
	e := testEstate()
	sim := awssim.NewServer(e)
	sim.Inject(awssim.Fault{Service: "kms", Kind: awssim.Throttle})
	ts := sim.Start()
	t.Cleanup(ts.Close)
	cfg := Config{Regions: []string{"eu-west-1"}, EndpointURL: ts.URL, S3PathStyle: true, MaxAttempts: 2, RateLimits: unlimited()}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tally := &callTally{calls: map[string]int64{}, throttles: map[string]int64{}}
	base := aws.Config{
		Region:      cfg.HomeRegion,
		Credentials: credentials.NewStaticCredentialsProvider(awssim.AccessKeyFor(e.Accounts[0].ID), "sim-secret", ""),
		APIOptions:  []func(*middleware.Stack) error{CountCalls(tally.count)},
	}
	c := New(cfg, base, slog.New(slog.NewTextHandler(io.Discard, nil)))
	spans := tracetest.NewSpanRecorder()
	c.SetTracer(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test"))
	rec := collect(t, c)

	var total int64
	for svc, n := range tally.calls {
		total += n
		if n != sim.Calls(svc, "") {
			t.Errorf("%s: counted %d calls, the server answered %d", svc, n, sim.Calls(svc, ""))
		}
	}
	if total != sim.TotalCalls() {
		t.Errorf("counted %d calls in all, the server answered %d (%v)", total, sim.TotalCalls(), tally.calls)
	}
	if tally.throttles["kms"] == 0 || tally.throttles["kms"] != tally.calls["kms"] {
		t.Errorf("kms: %d throttles of %d calls, want every call throttled", tally.throttles["kms"], tally.calls["kms"])
	}
	for svc, n := range tally.throttles {
		if svc != "kms" && n > 0 {
			t.Errorf("%s: %d throttles counted, none were injected", svc, n)
		}
	}

	// One span per scope, carrying the scope but nothing secret.
	var scopes []string
	for _, s := range spans.Ended() {
		if s.Name() != "aws.scope" {
			continue
		}
		attrs := map[attribute.Key]string{}
		for _, kv := range s.Attributes() {
			attrs[kv.Key] = kv.Value.Emit()
			if kv.Value.Emit() == "sim-secret" {
				t.Errorf("span %s carries the secret key in %s", s.Name(), kv.Key)
			}
		}
		scopes = append(scopes, attrs["account"]+"/"+attrs["region"]+"/"+attrs["service"])
	}
	var want []string
	for _, cv := range rec.Covered {
		want = append(want, cv.Account+"/"+cv.Region+"/"+cv.Service)
	}
	slices.Sort(scopes)
	slices.Sort(want)
	if !slices.Equal(scopes, want) {
		t.Errorf("scope spans %v, want one per coverage record %v", scopes, want)
	}
}

func TestCollectWithoutTracerRecordsNothing(t *testing.T) {
	c, _ := startSim(t, testEstate(), nil)
	if _, span := c.startScope(context.Background(), "1", "r", "s"); span.IsRecording() {
		t.Error("a collector without a tracer records scope spans")
	}
}
