package azure

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/collectors/collectortest"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// logBuffer is a concurrency-safe log sink for asserting on log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// logTo makes c log into a buffer the test reads.
func logTo(c *Collector) *logBuffer {
	var logs logBuffer
	c.log = slog.New(slog.NewTextHandler(&logs, nil)).With("collector", Provider)
	return &logs
}

// covered returns the subscriptions a run kept coverage records for,
// sorted: every subscription it assessed or reported on.
func covered(rec *recorder) []string {
	seen := map[string]bool{}
	for _, cv := range rec.Covered {
		seen[cv.Account] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// shardEstate is a generated tenant of n subscriptions under nested
// management groups, without resources (each run's scans are then a
// handful of calls), the second one disabled.
func shardEstate(n int) *azuresim.Estate {
	e := azuresim.Generate(7, azuresim.Spec{Subscriptions: n})
	e.Subscriptions[1].State = "Disabled"
	return e
}

// TestShardsPartitionSubscriptions runs three replicas over the same
// tenant, the subscriptions configured (in upper case) or discovered
// (every readable one, or the tenant root group's): together they handle
// every subscription exactly once, each the same one whichever way it was
// found, and no replica calls the API for another's subscription.
func TestShardsPartitionSubscriptions(t *testing.T) {
	const replicas, subscriptions = 3, 12
	e := shardEstate(subscriptions)
	var ids []string
	for _, s := range e.Subscriptions {
		ids = append(ids, s.ID)
	}
	owners := map[string]map[string]int{} // mode -> subscription -> replica
	for _, mode := range []struct {
		name   string
		config func(*Config)
	}{
		{"configured in upper case", func(c *Config) {
			for _, id := range ids {
				c.Subscriptions = append(c.Subscriptions, strings.ToUpper(id))
			}
		}},
		{"every readable subscription", nil},
		{"the tenant root group", func(c *Config) { c.ManagementGroup = e.TenantID }},
	} {
		owner := map[string]int{}
		owners[mode.name] = owner
		for i := range replicas {
			c, sim := startSim(t, e, func(c *Config) {
				if mode.config != nil {
					mode.config(c)
				}
				c.Shard = &collectors.Shard{Index: i, Count: replicas}
			})
			mine := covered(collect(t, c))
			for _, id := range mine {
				if j, dup := owner[id]; dup {
					t.Errorf("%s: %s handled by replicas %d and %d", mode.name, id, j, i)
				}
				owner[id] = i
			}
			for _, id := range ids {
				if !slices.Contains(mine, id) && sim.CallsIn(id) != 0 {
					t.Errorf("%s: replica %d made %d calls for %s, another replica's subscription", mode.name, i, sim.CallsIn(id), id)
				}
			}
			if len(mine) == 0 || len(mine) == subscriptions {
				t.Errorf("%s: replica %d handled %d of %d subscriptions; the test would prove little", mode.name, i, len(mine), subscriptions)
			}
		}
		if len(owner) != subscriptions {
			t.Errorf("%s: the replicas together handled %d subscriptions, want all %d", mode.name, len(owner), subscriptions)
		}
	}
	for mode, owner := range owners {
		for _, id := range ids {
			if owner[id] != owners["every readable subscription"][id] {
				t.Errorf("%s is replica %d's when %s, replica %d's when discovered", id, owner[id], mode, owners["every readable subscription"][id])
			}
		}
	}
}

func TestShardLogsWhatItTakes(t *testing.T) {
	e := shardEstate(6)
	c, _ := startSim(t, e, func(c *Config) { c.Shard = &collectors.Shard{Index: 1, Count: 2} })
	logs := logTo(c)
	rec := collect(t, c)
	mine, assessed := len(covered(rec)), len(rec.Accounts())
	want := fmt.Sprintf(`msg="subscriptions discovered" collector=azure subscriptions=6 chosen=6 assessed=%d skipped=%d other_shards=%d shard=1/2`,
		assessed, mine-assessed, 6-mine)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("no log line %q:\n%s", want, logs)
	}

	c, _ = startSim(t, e, func(c *Config) {
		c.Subscriptions = []string{e.Subscriptions[0].ID, e.Subscriptions[2].ID}
		c.Shard = &collectors.Shard{Index: 0, Count: 1}
	})
	logs = logTo(c)
	collect(t, c)
	if want := `msg="shard selects subscriptions" collector=azure shard=0/1 subscriptions=2 of=2`; !strings.Contains(logs.String(), want) {
		t.Errorf("no log line %q:\n%s", want, logs)
	}
}

func TestShardOwningNoSubscriptionAssessesNothing(t *testing.T) {
	e := azuresim.Generate(3, azuresim.Spec{Subscriptions: 1})
	id := e.Subscriptions[0].ID
	other := 0
	if (&collectors.Shard{Index: 0, Count: 2}).Owns(id) {
		other = 1
	}
	c, sim := startSim(t, e, func(c *Config) {
		c.Subscriptions = []string{id}
		c.Shard = &collectors.Shard{Index: other, Count: 2}
	})
	rec := collect(t, c)
	if len(rec.Findings) != 0 || len(rec.Covered) != 0 {
		t.Errorf("a replica owning nothing emitted %d findings and %d coverage records", len(rec.Findings), len(rec.Covered))
	}
	if n := sim.CallsIn(id); n != 0 {
		t.Errorf("%d calls for a subscription the replica does not own", n)
	}
}

// TestIncludeAndExclude selects among threeSubscriptions' (sub1 in
// mg-test, sub3 in mg-child below it, sub2 in mg-other): excluded and
// unincluded subscriptions are assessed nowhere and called never.
func TestIncludeAndExclude(t *testing.T) {
	for _, tc := range []struct {
		name             string
		group            string
		include, exclude []string
		want             []string
	}{
		{name: "a group includes its nested groups", include: []string{"mg-test"}, want: []string{sub1, sub3}},
		{name: "exclude wins over include", include: []string{"mg-test"}, exclude: []string{strings.ToUpper(sub3)}, want: []string{sub1}},
		{name: "subscriptions and a nested group", include: []string{sub2, "/providers/Microsoft.Management/managementGroups/mg-child"}, want: []string{sub2, sub3}},
		{name: "under the management group, less a group", group: tenant, exclude: []string{"mg-other"}, want: []string{sub1, sub3}},
		{name: "include outside the management group adds nothing", group: "mg-test", include: []string{"mg-other", sub1}, want: []string{sub1}},
		{name: "include and exclude leave nothing", include: []string{sub2}, exclude: []string{"mg-other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, sim := startSim(t, threeSubscriptions(), func(c *Config) {
				c.ManagementGroup, c.Include, c.Exclude = tc.group, tc.include, tc.exclude
			})
			logs := logTo(c)
			if got := covered(collect(t, c)); !slices.Equal(got, tc.want) {
				t.Errorf("assessed %v, want %v", got, tc.want)
			}
			for _, id := range []string{sub1, sub2, sub3} {
				if !slices.Contains(tc.want, id) && sim.CallsIn(id) != 0 {
					t.Errorf("%d calls for %s, which is not chosen", sim.CallsIn(id), id)
				}
			}
			if none := strings.Contains(logs.String(), `msg="include and exclude leave none of the discovered subscriptions to assess"`); none != (len(tc.want) == 0) {
				t.Errorf("warning that nothing is left: %v, want %v", none, len(tc.want) == 0)
			}
		})
	}
}

// TestInactiveSubscriptionsAreSkippedWithCoverage: discovered subscriptions
// that are disabled or deleted are skipped with a log line and a
// not_assessed coverage record; warned and past-due ones still run their
// resources and are assessed.
func TestInactiveSubscriptionsAreSkippedWithCoverage(t *testing.T) {
	for _, tc := range []struct {
		name, group string
		states      [3]string // of sub1, sub2, sub3
		assessed    []string
		skipped     map[string]string
	}{
		{
			name:     "listed with their state",
			states:   [3]string{"Warned", "Disabled", "Deleted"},
			assessed: []string{sub1},
			skipped:  map[string]string{sub2: "Disabled", sub3: "Deleted"},
		},
		{
			name:     "read one by one under a management group",
			group:    "mg-test",
			states:   [3]string{"PastDue", "", "Disabled"},
			assessed: []string{sub1},
			skipped:  map[string]string{sub3: "Disabled"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := threeSubscriptions()
			for i, s := range tc.states {
				e.Subscriptions[i].State = s
			}
			c, _ := startSim(t, e, func(c *Config) { c.ManagementGroup = tc.group })
			logs := logTo(c)
			rec := collect(t, c)
			if got := rec.Accounts(); !slices.Equal(got, tc.assessed) {
				t.Errorf("findings for %v, want %v", got, tc.assessed)
			}
			for _, cv := range rec.Covered {
				state, skipped := tc.skipped[cv.Account]
				if !skipped {
					continue
				}
				want := finding.Coverage{Provider: Provider, Account: cv.Account, Region: GlobalRegion, Service: "subscriptions",
					Status: finding.NotCovered, Detail: "subscription is " + state + ", so it is not assessed"}
				if cv != want {
					t.Errorf("coverage of %s:\n got %+v\nwant %+v", cv.Account, cv, want)
				}
				delete(tc.skipped, cv.Account)
				if line := `level=WARN msg="subscription skipped" collector=azure subscription=` + cv.Account + " state=" + state; !strings.Contains(logs.String(), line) {
					t.Errorf("no log line %q:\n%s", line, logs)
				}
			}
			if len(tc.skipped) != 0 {
				t.Errorf("no coverage record for %v", tc.skipped)
			}
		})
	}
}

// TestConcurrencyHoldsWithManySubscriptions collects 60 subscriptions with
// a concurrency of 3: never more than 3 scans run at once, every scan
// runs once, and no subscription's rate-limit buckets outlive its scans.
func TestConcurrencyHoldsWithManySubscriptions(t *testing.T) {
	const subscriptions, concurrency = 60, 3
	e := azuresim.Generate(11, azuresim.Spec{Subscriptions: subscriptions})
	c, _ := startSim(t, e, func(c *Config) {
		c.ManagementGroup = e.TenantID
		c.Concurrency = concurrency
	})
	var g collectortest.Gauge
	for i, sc := range c.scanners {
		c.scanners[i].scan = collectortest.Track(&g, sc.scan)
	}
	rec := collect(t, c)
	most, ran := g.Most(), g.Ran()
	if most > concurrency {
		t.Errorf("%d scans ran at once, bound %d", most, concurrency)
	}
	if want := subscriptions * len(c.scanners); ran != want {
		t.Errorf("%d scans ran, want %d", ran, want)
	}
	if got := len(covered(rec)); got != subscriptions {
		t.Errorf("%d subscriptions assessed, want %d", got, subscriptions)
	}
	for _, sub := range c.limits.buckets.Held() {
		if sub != "" {
			t.Errorf("subscription %s still holds rate-limit buckets after its scans ended", sub)
		}
	}
}
