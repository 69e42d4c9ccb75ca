package gcp

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

// shardEstate is organisation 999 with twelve projects spread over the
// organisation and two nested folders, and a folder 12 for tests to deny.
func shardEstate() *gcpsim.Estate {
	e := &gcpsim.Estate{
		Organization: "999",
		Locations:    []string{"europe-west1"},
		Folders: []*gcpsim.Folder{
			{ID: "10", Parent: "organizations/999"},
			{ID: "11", Parent: "folders/10"},
			{ID: "12", Parent: "organizations/999"},
		},
	}
	parents := []string{"organizations/999", "folders/10", "folders/11"}
	for i := range 12 {
		e.Projects = append(e.Projects, &gcpsim.Project{ID: fmt.Sprintf("shard-test-%02d", i), Number: int64(100 + i), Parent: parents[i%3]})
	}
	return e
}

// TestShardsPartitionTheProjects runs every replica of three over the same
// projects, listed by ID and discovered: each project is assessed by
// exactly one replica, and the others send no request for it.
func TestShardsPartitionTheProjects(t *testing.T) {
	const replicas = 3
	for _, tc := range []struct {
		name   string
		config func(*Config)
		// parentReports is how many replicas may report folder 12, whose
		// projects cannot be listed.
		parentReports int
	}{
		{name: "projects listed by ID", config: func(*Config) {}},
		{name: "projects discovered under the organisation",
			config:        func(c *Config) { c.Projects, c.Organization = nil, "999" },
			parentReports: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := shardEstate()
			owner := map[string]int{}
			reports := 0
			for i := range replicas {
				c, sim := startSim(t, e, func(c *Config) {
					tc.config(c)
					c.Shard = &collectors.Shard{Index: i, Count: replicas}
				})
				sim.Inject(gcpsim.Fault{Service: "cloudresourcemanager", Method: "projects.list", Resource: "folders%2F12", Kind: gcpsim.AccessDenied})
				rec := collect(t, c)
				mine := assessed(rec)
				if len(mine) == 0 {
					t.Errorf("replica %d assessed nothing: the test shows no partition", i)
				}
				for _, p := range mine {
					if j, dup := owner[p]; dup {
						t.Errorf("%s is assessed by replicas %d and %d", p, j, i)
					}
					owner[p] = i
				}
				for _, p := range e.Projects {
					if n := sim.ProjectCalls(p.ID); slices.Contains(mine, p.ID) != (n > 0) {
						t.Errorf("replica %d sent %d requests for %s, which it assesses: %v", i, n, p.ID, slices.Contains(mine, p.ID))
					}
				}
				if slices.ContainsFunc(rec.Findings, func(f finding.Finding) bool { return f.Account == "folders/12" }) {
					reports++
				}
			}
			if len(owner) != len(e.Projects) {
				t.Errorf("the replicas assessed %d of %d projects: %v", len(owner), len(e.Projects), owner)
			}
			if reports != tc.parentReports {
				t.Errorf("%d replicas report folders/12 not assessed, want %d", reports, tc.parentReports)
			}
		})
	}
}

// inFlight serves next and records the most requests it held at once.
type inFlight struct {
	next      http.Handler
	mu        sync.Mutex
	now, peak int
}

func (h *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.now++
	h.peak = max(h.peak, h.now)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.now--
		h.mu.Unlock()
	}()
	h.next.ServeHTTP(w, r)
}

// TestConcurrencyBoundsTheScopesInFlight assesses six projects whose every
// scope sends one request at a time, each held 20ms by the simulator: the
// requests in flight, across projects, never exceed the concurrency.
func TestConcurrencyBoundsTheScopesInFlight(t *testing.T) {
	const concurrency = 3
	e := &gcpsim.Estate{Locations: []string{"europe-west1"}}
	for i := range 6 {
		e.Projects = append(e.Projects, &gcpsim.Project{ID: fmt.Sprintf("bounded-%02d", i), Number: int64(i + 1)})
	}
	sim := gcpsim.NewServer(e)
	sim.Token = testToken
	sim.Inject(gcpsim.Fault{Kind: gcpsim.Slow, Delay: 20 * time.Millisecond})
	h := &inFlight{next: sim}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	// One KMS location, so that the KMS scope lists it alone.
	c := collectorFor(t, ts.URL, e, func(c *Config) { c.Concurrency, c.Regions = concurrency, []string{"europe-west1"} })
	rec := collect(t, c)
	if got := assessed(rec); len(got) != len(e.Projects) {
		t.Fatalf("assessed %v, want all %d projects", got, len(e.Projects))
	}
	if h.peak > concurrency || h.peak < 2 {
		t.Errorf("%d requests in flight at most, want up to %d and more than one", h.peak, concurrency)
	}
}
