package ratelimit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// standStill makes b's clock stand still and records every wait instead of
// sleeping it, so the tests count tokens rather than time.
func standStill(b *Buckets) *[]time.Duration {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var waits []time.Duration
	b.Now = func() time.Time { return now }
	b.Sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	return &waits
}

func TestBucketsServeTheBurstThenTheRate(t *testing.T) {
	var b Buckets
	waits := standStill(&b)
	for range 13 {
		if err := b.Wait(context.Background(), "p1", "compute", Limit{Rate: 10, Burst: 10}); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if !slices.Equal(*waits, want) {
		t.Errorf("waits %v, want %v", *waits, want)
	}
	if n, total := b.Stats(); n != 3 || total != 600*time.Millisecond {
		t.Errorf("stats %d waits, %v; want 3, 600ms", n, total)
	}
}

func TestBucketsAreKeptPerScopeAndKey(t *testing.T) {
	var b Buckets
	waits := standStill(&b)
	for _, sk := range [][2]string{{"p1", "a"}, {"p1", "b"}, {"p2", "a"}} {
		if err := b.Wait(context.Background(), sk[0], sk[1], Limit{Rate: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if len(*waits) != 0 {
		t.Errorf("separate buckets waited %v", *waits)
	}
	if got := b.Held(); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Errorf("held %v", got)
	}
	b.Forget("p1")
	if got := b.Held(); !slices.Equal(got, []string{"p2"}) {
		t.Errorf("after Forget(p1) held %v", got)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	var b Buckets
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Wait(ctx, "s", "k", Limit{Rate: 0.001, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b.Wait(ctx, "s", "k", Limit{Rate: 0.001, Burst: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestLimitDefaultsAndValidation(t *testing.T) {
	if got := (Limit{Rate: 2.5}).WithDefaults(); got.Burst != 3 {
		t.Errorf("burst %d, want 3", got.Burst)
	}
	if got := (Limit{Rate: 0.2}).WithDefaults(); got.Burst != 1 {
		t.Errorf("burst %d, want 1", got.Burst)
	}
	err := Limit{Rate: 0, Burst: -1}.Validate()
	want := "rate: must be positive, got 0\nburst: must not be negative, got -1"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
	if err := (Limit{Rate: 5}).Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestValidateOverridesNamesEveryProblemByPath(t *testing.T) {
	errs := ValidateOverrides(map[string]Limit{
		"ok":  {Rate: 1},
		"Bad": {Rate: -1},
	}, func(key string) string {
		if key != strings.ToLower(key) {
			return "must be lower case"
		}
		return ""
	})
	want := `rate_limits["Bad"]: must be lower case` + "\n" + `rate_limits["Bad"].rate: must be positive, got -1`
	if got := errors.Join(errs...); got == nil || got.Error() != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
}
