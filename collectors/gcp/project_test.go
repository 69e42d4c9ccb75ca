package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

// The collector is a collectors.Collector.
var _ collectors.Collector = (*Collector)(nil)

// orgEstate is organisation 999 with a folder tree two deep, a project at
// each level, a deleted project and a project outside the organisation.
//
//	organizations/999: org-root
//	  folders/10: prod-app
//	    folders/11: prod-db
//	  folders/20 (deleted): old-app
//	standalone (no parent)
func orgEstate() *gcpsim.Estate {
	return &gcpsim.Estate{
		Organization: "999",
		Locations:    []string{"europe-west1"},
		Folders: []*gcpsim.Folder{
			{ID: "10", Parent: "organizations/999", DisplayName: "prod"},
			{ID: "11", Parent: "folders/10", DisplayName: "db"},
			{ID: "20", Parent: "organizations/999", DisplayName: "old", Deleted: true},
		},
		Projects: []*gcpsim.Project{
			{ID: "org-root", Number: 1, Parent: "organizations/999"},
			{ID: "prod-app", Number: 2, Parent: "folders/10"},
			{ID: "prod-db", Number: 3, Parent: "folders/11"},
			{ID: "old-app", Number: 4, Parent: "folders/20"},
			{ID: "gone-app", Number: 5, Parent: "folders/10", Deleted: true},
			{ID: "standalone", Number: 6},
		},
	}
}

// assessed returns the accounts with an assessed coverage record, sorted.
func assessed(rec *recorder) []string {
	var out []string
	for _, c := range rec.Covered {
		if c.Status == finding.Assessed && !slices.Contains(out, c.Account) {
			out = append(out, c.Account)
		}
	}
	slices.Sort(out)
	return out
}

func TestProjectsAreDiscovered(t *testing.T) {
	tests := []struct {
		name   string
		config func(*Config)
		want   []string
	}{
		{name: "every active project under the organisation, at any depth",
			config: func(c *Config) { c.Projects, c.Organization = nil, "999" },
			want:   []string{"org-root", "prod-app", "prod-db"}},
		{name: "organization given as a resource name",
			config: func(c *Config) { c.Projects, c.Organization = nil, "organizations/999" },
			want:   []string{"org-root", "prod-app", "prod-db"}},
		{name: "projects under a folder and its subfolders",
			config: func(c *Config) { c.Projects, c.Folders = nil, []string{"10"} },
			want:   []string{"prod-app", "prod-db"}},
		{name: "listed projects join discovered ones, each once",
			config: func(c *Config) { c.Projects, c.Folders = []string{"standalone", "prod-db"}, []string{"folders/11"} },
			want:   []string{"prod-db", "standalone"}},
		{name: "overlapping roots assess a project once",
			config: func(c *Config) { c.Projects, c.Organization, c.Folders = nil, "999", []string{"10", "11"} },
			want:   []string{"org-root", "prod-app", "prod-db"}},
		{name: "excluded projects are left out of discovery",
			config: func(c *Config) { c.Projects, c.Organization, c.ExcludeProjects = nil, "999", []string{"prod-*"} },
			want:   []string{"org-root"}},
		{name: "a listed project is assessed though exclude_projects matches it",
			config: func(c *Config) {
				c.Projects, c.Organization, c.ExcludeProjects = []string{"prod-app"}, "999", []string{"prod-*"}
			},
			want: []string{"org-root", "prod-app"}},
		{name: "projects under an excluded folder are left out, at any depth",
			config: func(c *Config) { c.Projects, c.Organization, c.ExcludeFolders = nil, "999", []string{"10"} },
			want:   []string{"org-root"}},
		{name: "a listed project under an excluded folder is assessed",
			config: func(c *Config) {
				c.Projects, c.Organization, c.ExcludeFolders = []string{"prod-db"}, "999", []string{"folders/10"}
			},
			want: []string{"org-root", "prod-db"}},
		{name: "a folder excluded under a listed folder",
			config: func(c *Config) { c.Projects, c.Folders, c.ExcludeFolders = nil, []string{"10"}, []string{"11"} },
			want:   []string{"prod-app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := startSim(t, orgEstate(), tt.config)
			rec := collect(t, c)
			if got := assessed(rec); !slices.Equal(got, tt.want) {
				t.Errorf("assessed projects %v, want %v", got, tt.want)
			}
			// Each project is assessed once: one coverage record per scanner.
			for _, p := range tt.want {
				n := 0
				for _, cv := range rec.Covered {
					if cv.Account == p {
						n++
					}
				}
				if n != len(scanners()) {
					t.Errorf("%s has %d coverage records, want %d (one per scanner)", p, n, len(scanners()))
				}
			}
		})
	}
}

func TestDiscoveryIsPaged(t *testing.T) {
	e := orgEstate()
	for i := range discoveryPageSize + 1 {
		e.Projects = append(e.Projects, &gcpsim.Project{ID: fmt.Sprintf("bulk-%04d", i), Number: int64(100 + i), Parent: "organizations/999"})
	}
	c, sim := startSim(t, e, func(c *Config) {
		c.Projects, c.Organization, c.ExcludeProjects = nil, "999", []string{"bulk-000[1-9]", "bulk-00[1-9]?", "bulk-0[1-9]??"}
	})
	rec := collect(t, c)
	if n := sim.Calls("cloudresourcemanager", "projects.list"); n != 2+2 {
		t.Errorf("projects.list called %d times, want 2 pages under the organisation and one per folder", n)
	}
	want := []string{"bulk-0000", "org-root", "prod-app", "prod-db"}
	if got := assessed(rec); !slices.Equal(got, want) {
		t.Errorf("assessed %v, want %v", got, want)
	}
}

func TestExcludedFoldersAreNotListed(t *testing.T) {
	c, sim := startSim(t, orgEstate(), func(c *Config) { c.Projects, c.Organization, c.ExcludeFolders = nil, "999", []string{"10"} })
	collect(t, c)
	// The organisation is listed; folder 10, and 11 under it, are not,
	// and 20 is deleted.
	if p, f := sim.Calls("cloudresourcemanager", "projects.list"), sim.Calls("cloudresourcemanager", "folders.list"); p != 1 || f != 1 {
		t.Errorf("projects.list called %d times, folders.list %d; want once each, for the organisation", p, f)
	}
}

func TestUndiscoverableFolderIsNotAssessedAlone(t *testing.T) {
	c, sim := startSim(t, orgEstate(), func(c *Config) { c.Projects, c.Organization = nil, "999" })
	sim.Inject(gcpsim.Fault{Service: "cloudresourcemanager", Method: "projects.list", Resource: "folders%2F11", Kind: gcpsim.AccessDenied})
	rec := collect(t, c)
	if got, want := assessed(rec), []string{"org-root", "prod-app"}; !slices.Equal(got, want) {
		t.Errorf("assessed %v, want %v", got, want)
	}
	var denied int
	for _, f := range rec.Findings {
		if f.Account != "folders/11" {
			continue
		}
		denied++
		if f.Status != finding.NotAssessed || f.Reason != finding.AccessDenied || f.Resource != "*" {
			t.Errorf("%s under folders/11: got %s/%s on %q, want not_assessed/access_denied on *", f.Check, f.Status, f.Reason, f.Resource)
		}
		if !strings.Contains(f.Detail, "list projects under folders/11") {
			t.Errorf("detail %q does not say what failed", f.Detail)
		}
	}
	if want := len(Checks()) - 1; denied != want {
		t.Errorf("%d findings for the folder, want %d (every check but location)", denied, want)
	}
	var cov []finding.Coverage
	for _, cv := range rec.Covered {
		if cv.Account == "folders/11" {
			cov = append(cov, cv)
		}
	}
	if len(cov) != 1 || cov[0].Status != finding.NotCovered || cov[0].Service != "cloudresourcemanager" {
		t.Errorf("coverage of folders/11 = %+v, want one not_assessed record for cloudresourcemanager", cov)
	}
}

func TestDeniedProjectIsNotAssessedAlone(t *testing.T) {
	e := orgEstate()
	c, sim := startSim(t, e, func(c *Config) {
		c.Projects = []string{"org-root", "prod-app"}
		c.AllowedRegions = []string{"europe-west1"}
	})
	sim.Inject(gcpsim.Fault{Project: "prod-app", Kind: gcpsim.AccessDenied})
	rec := collect(t, c)
	for _, f := range rec.Findings {
		switch f.Account {
		case "prod-app":
			if f.Status != finding.NotAssessed || f.Reason != finding.AccessDenied {
				t.Errorf("%s in prod-app: %s/%s, want not_assessed/access_denied", f.Check, f.Status, f.Reason)
			}
		case "org-root":
			if f.Status == finding.NotAssessed {
				t.Errorf("%s in org-root: not assessed (%s) though only prod-app is denied", f.Check, f.Detail)
			}
		default:
			t.Errorf("finding for unexpected account %q", f.Account)
		}
	}
	// Every check of every scanner, and location for those that locate.
	var checks []string
	for _, f := range rec.Findings {
		if f.Account == "prod-app" && !slices.Contains(checks, f.Check) {
			checks = append(checks, f.Check)
		}
	}
	slices.Sort(checks)
	if !slices.Equal(checks, Checks()) {
		t.Errorf("checks reported for the denied project %v, want every check %v", checks, Checks())
	}
	if got := assessed(rec); !slices.Equal(got, []string{"org-root"}) {
		t.Errorf("assessed %v, want only org-root", got)
	}
}

func TestUnknownProjectIsNotAssessed(t *testing.T) {
	c, _ := startSim(t, testEstate(), func(c *Config) { c.Projects = []string{"no-such-project"} })
	rec := collect(t, c)
	if len(rec.Findings) == 0 {
		t.Fatal("no findings")
	}
	for _, f := range rec.Findings {
		if f.Account != "no-such-project" || f.Status != finding.NotAssessed || f.Reason != finding.AccessDenied {
			t.Errorf("%s: %s/%s in %s, want not_assessed/access_denied in no-such-project", f.Check, f.Status, f.Reason, f.Account)
		}
	}
}

func TestThrottledCallIsRetried(t *testing.T) {
	e := testEstate()
	withBucket(goodBucket())(e)
	c, sim := startSim(t, e, func(c *Config) { c.MaxAttempts = 2 })
	sim.Inject(gcpsim.Fault{Service: "storage", Kind: gcpsim.Throttle, Times: 1})
	rec := collect(t, c)
	if f := rec.One(t, checkBucketVersioning, testBucket); f.Status != finding.Pass {
		t.Errorf("versioning after one throttled attempt = %s (%s), want pass", f.Status, f.Detail)
	}
	if n := sim.Calls("storage", "buckets.list"); n != 2 {
		t.Errorf("buckets.list called %d times, want 2 (one throttled, one retried)", n)
	}
}

// TestThrottlingThatOutlastsRetriesIsNotAssessed throttles one listing of
// each scanner on every attempt, the way current APIs do (429
// RESOURCE_EXHAUSTED) and the way Compute Engine and older APIs do (403
// rateLimitExceeded): the call is tried max_attempts times through the real
// client, then its checks are not assessed with reason throttled.
func TestThrottlingThatOutlastsRetriesIsNotAssessed(t *testing.T) {
	scanners := []struct {
		service, method, check string
		setup                  func(*gcpsim.Estate)
	}{
		{"storage", "buckets.list", checkBucketVersioning, withBucket(goodBucket())},
		{"compute", "firewalls.list", checkFirewallAdminPorts, withFirewall(world())},
		{"cloudkms", "locations.list", checkKeyRotation, withKey(symmetric(90 * day))},
		{"sqladmin", "instances.list", checkSQLBackups, withInstance(goodInstance())},
		{"iam", "serviceAccounts.list", checkSAUserManagedKeys, withServiceAccount()},
		{"cloudresourcemanager", "projects.getIamPolicy", checkPrimitiveRoles, nil},
	}
	for _, kind := range []struct {
		name string
		kind gcpsim.FaultKind
	}{{"429 RESOURCE_EXHAUSTED", gcpsim.Throttle}, {"403 rateLimitExceeded", gcpsim.ThrottleForbidden}} {
		for _, sc := range scanners {
			t.Run(kind.name+" on "+sc.method, func(t *testing.T) {
				t.Parallel()
				e := testEstate()
				if sc.setup != nil {
					sc.setup(e)
				}
				c, sim := startSim(t, e, func(c *Config) { c.MaxAttempts = 2 })
				sim.Inject(gcpsim.Fault{Service: sc.service, Method: sc.method, Kind: kind.kind})
				f := collect(t, c).One(t, sc.check, "*")
				if f.Status != finding.NotAssessed || f.Reason != finding.Throttled {
					t.Errorf("%s = %s/%s (%s), want not_assessed/throttled", sc.check, f.Status, f.Reason, f.Detail)
				}
				if n := sim.Calls(sc.service, sc.method); n != 2 {
					t.Errorf("%s called %d times, want max_attempts (2)", sc.method, n)
				}
			})
		}
	}
}

func TestRetriesStopAtMaxAttempts(t *testing.T) {
	e := testEstate()
	withBucket(goodBucket())(e)
	c, sim := startSim(t, e, func(c *Config) { c.MaxAttempts = 3 })
	sim.Inject(gcpsim.Fault{Service: "storage", Kind: gcpsim.ServerError})
	sim.Inject(gcpsim.Fault{Service: "compute", Method: "firewalls.list", Kind: gcpsim.AccessDenied})
	rec := collect(t, c)
	if f := rec.One(t, checkBucketVersioning, "*"); f.Reason != finding.APIError {
		t.Errorf("versioning = %s/%s, want not_assessed/api_error", f.Status, f.Reason)
	}
	if n := sim.Calls("storage", "buckets.list"); n != 3 {
		t.Errorf("buckets.list called %d times, want max_attempts (3)", n)
	}
	if n := sim.Calls("compute", "firewalls.list"); n != 1 {
		t.Errorf("firewalls.list called %d times: access denied is not worth retrying", n)
	}
}

// failingSink fails every finding after the first few.
type failingSink struct {
	recorder
	after int
	seen  atomic.Int64
}

func (s *failingSink) Finding(ctx context.Context, f finding.Finding) error {
	if s.seen.Add(1) > int64(s.after) {
		return errors.New("disk full")
	}
	return s.recorder.Finding(ctx, f)
}

func TestSinkFailureEndsTheRun(t *testing.T) {
	e := orgEstate()
	for _, p := range e.Projects {
		p.Buckets = []gcpsim.Bucket{goodBucket()}
	}
	c, _ := startSim(t, e, func(c *Config) { c.Projects, c.Organization = nil, "999" })
	err := c.Collect(context.Background(), &failingSink{after: 3})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Collect = %v, want the sink's error", err)
	}
}

func TestCancelledRunReturnsPromptly(t *testing.T) {
	e := testEstate()
	withBucket(goodBucket())(e)
	c, sim := startSim(t, e, nil)
	sim.Inject(gcpsim.Fault{Kind: gcpsim.Slow, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Collect(ctx, &recorder{}) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Collect = %v, want the context's error", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("Collect did not return after its context ended")
	}
}

// TestNoSecretsInFindings runs an estate with failures of every kind
// under an OAuth token the simulator checks, and looks for the token
// anywhere in the output.
func TestNoSecretsInFindings(t *testing.T) {
	e := gcpsim.Demo()
	c, sim := startSim(t, e, func(c *Config) {
		c.Projects, c.Organization = nil, e.Organization
		c.AllowedRegions = []string{"europe-west1", "eu"}
		c.CallTimeout = 300 * time.Millisecond
	})
	sim.Inject(gcpsim.Fault{Service: "cloudkms", Kind: gcpsim.AccessDenied})
	sim.Inject(gcpsim.Fault{Service: "compute", Method: "subnetworks.aggregatedList", Kind: gcpsim.Slow, Delay: 5 * time.Second})
	sim.Inject(gcpsim.Fault{Service: "sqladmin", Kind: gcpsim.Malformed})
	sim.Inject(gcpsim.Fault{Service: "storage", Kind: gcpsim.Throttle})
	rec := collect(t, c)
	blob, err := json.Marshal(struct {
		F []finding.Finding
		C []finding.Coverage
	}{rec.Findings, rec.Covered})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(blob), testToken) || strings.Contains(string(blob), "Bearer") {
		t.Errorf("output contains the access token")
	}
	for _, reason := range []finding.Reason{finding.AccessDenied, finding.TimedOut, finding.APIError, finding.Throttled} {
		if !strings.Contains(string(blob), `"reason":"`+string(reason)+`"`) {
			t.Errorf("no finding is not assessed for %s: the test would not show errors keep the token out", reason)
		}
	}
	if !strings.Contains(string(blob), "ci-runner@demo-mgmt-eu.iam.gserviceaccount.com") {
		t.Error("service account emails are not secret and should be reported")
	}
}

// TestDemoEstateHasEveryVerdict runs the demo estate the way the demo
// command does and checks it shows pass, fail and not applicable for the
// checks, and fails the location policy somewhere.
func TestDemoEstateHasEveryVerdict(t *testing.T) {
	e := gcpsim.Demo()
	c, _ := startSim(t, e, func(c *Config) {
		c.Projects, c.Organization = nil, e.Organization
		c.AllowedRegions = []string{"europe-west1", "europe-west3", "eu", "europe"}
	})
	rec := collect(t, c)
	if got, want := assessed(rec), []string{"demo-mgmt-eu", "demo-prod-eu", "demo-sandbox"}; !slices.Equal(got, want) {
		t.Errorf("assessed %v, want %v", got, want)
	}
	statuses := map[string]map[finding.Status]int{}
	for _, f := range rec.Findings {
		if statuses[f.Check] == nil {
			statuses[f.Check] = map[finding.Status]int{}
		}
		statuses[f.Check][f.Status]++
	}
	for _, check := range Checks() {
		if statuses[check][finding.Fail] == 0 {
			t.Errorf("%s never fails in the demo: %v", check, statuses[check])
		}
		if statuses[check][finding.Pass] == 0 {
			t.Errorf("%s never passes in the demo: %v", check, statuses[check])
		}
		if statuses[check][finding.NotAssessed] != 0 {
			t.Errorf("%s is not assessed in the fault-free demo: %v", check, statuses[check])
		}
	}
}

// TestEveryCheckIsInTheCatalogue holds Checks and the embedded check
// catalogue to each other: every check the collector can emit is mapped,
// and every GCP check in the catalogue is one the collector emits.
func TestEveryCheckIsInTheCatalogue(t *testing.T) {
	set, err := controls.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range Checks() {
		c, ok := set.Check(id)
		if !ok {
			t.Errorf("%s is not in controls/checks/gcp.yaml", id)
			continue
		}
		if c.Provider != Provider {
			t.Errorf("%s is catalogued for provider %q", id, c.Provider)
		}
		if want := checkService(id, "x"); id != LocationCheck && c.Service != want {
			t.Errorf("%s is catalogued under service %q, its findings carry %q", id, c.Service, want)
		}
	}
	for _, c := range set.Checks() {
		if c.Provider == Provider && !slices.Contains(Checks(), c.ID) {
			t.Errorf("catalogue has %s, which the collector never emits", c.ID)
		}
	}
	if n := len(Checks()); n < 15 {
		t.Errorf("%d checks, want at least 15", n)
	}
}

// TestDemoWiring builds the collector the way the demo command does:
// against the demo estate, without credentials, with the faults the demo
// injects.
func TestDemoWiring(t *testing.T) {
	e := gcpsim.Demo()
	sim := gcpsim.NewServer(e)
	sim.Inject(gcpsim.Fault{Project: "demo-prod-eu", Service: "cloudkms", Method: "keyRings.list", Resource: "europe-west3", Kind: gcpsim.AccessDenied})
	sim.Inject(gcpsim.Fault{Project: "demo-sandbox", Service: "sqladmin", Kind: gcpsim.Throttle})
	srv := sim.Start()
	defer srv.Close()
	cfg := Config{
		Organization:   e.Organization,
		AllowedRegions: []string{"europe-west1", "europe-west3", "eu", "europe"},
		Endpoint:       srv.URL,
		MaxAttempts:    2,
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), cfg, []option.ClientOption{option.WithoutAuthentication()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := collect(t, c)
	if f := rec.One(t, checkKeyRotation, "//cloudkms.googleapis.com/projects/demo-prod-eu/locations/europe-west3"); f.Reason != finding.AccessDenied {
		t.Errorf("KMS in europe-west3 of demo-prod-eu = %s/%s, want not_assessed/access_denied", f.Status, f.Reason)
	}
	for _, f := range rec.Of(checkSQLBackups, "") {
		if (f.Account == "demo-sandbox") != (f.Reason == finding.Throttled) {
			t.Errorf("%s in %s = %s/%s: only demo-sandbox is throttled", f.Check, f.Account, f.Status, f.Reason)
		}
	}
}

func TestNewFailsWithoutCredentials(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/eucs-agent-key.json")
	cfg := Config{Projects: []string{"my-project-1"}}
	cfg.SetDefaults()
	_, err := New(context.Background(), cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.HasPrefix(err.Error(), "set up Google API credentials: ") || !strings.Contains(err.Error(), "/nonexistent/eucs-agent-key.json") {
		t.Errorf("New = %v, want an error naming the credentials file", err)
	}
}
