package gcpsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind is a failure the server can be told to answer with.
type FaultKind int

// Faults the server can inject, each in Google's JSON error format.
const (
	// AccessDenied answers 403 PERMISSION_DENIED naming the permission the
	// call needs.
	AccessDenied FaultKind = iota + 1
	// Throttle answers 429 RESOURCE_EXHAUSTED with reason rateLimitExceeded.
	Throttle
	// ServerError answers 500 INTERNAL with reason backendError.
	ServerError
	// Malformed answers 200 with a body no client can parse.
	Malformed
	// Slow holds the request for Fault.Delay before answering normally.
	Slow
	// ThrottleForbidden answers 403 with reason rateLimitExceeded in the
	// usageLimits domain and no status, as Compute Engine and other older
	// APIs answer an exhausted per-minute quota.
	ThrottleForbidden
)

// Fault makes matching requests fail. Empty fields match anything.
type Fault struct {
	// Project is the project ID the request is for.
	Project string
	// Service is the API: storage, compute, cloudkms, sqladmin, iam,
	// cloudresourcemanager.
	Service string
	// Method is the API method, as Method names it for the server, e.g.
	// buckets.list, disks.aggregatedList, keyRings.list.
	Method string
	// Resource, when set, must appear in the request path or query (a
	// location, a key ring, a folders/N name) for the fault to match.
	Resource string
	Kind     FaultKind
	Delay    time.Duration // for Slow
	// Times limits how many requests the fault hits; 0 means all of them.
	Times int
}

// Server answers Google API calls for an Estate.
type Server struct {
	estate *Estate
	// Token, when set, is the only OAuth access token the server accepts
	// (Authorization: Bearer); other requests are answered 401. Empty
	// accepts requests without credentials, as option.WithoutAuthentication
	// sends them.
	Token string

	mu     sync.Mutex
	faults []*faultState

	calls        sync.Map // "service:method" -> *atomic.Int64
	projectCalls sync.Map // project ID -> *atomic.Int64
}

type faultState struct {
	Fault
	hits int
}

// NewServer returns a server for e.
func NewServer(e *Estate) *Server { return &Server{estate: e} }

// Start serves on a loopback port until the returned server is closed.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

// Inject adds a fault. Faults are checked in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns how many requests the server answered for service and
// method ("" for every method of the service).
func (s *Server) Calls(service, method string) int64 {
	var n int64
	s.calls.Range(func(k, v any) bool {
		svc, m, _ := strings.Cut(k.(string), ":")
		if svc == service && (method == "" || m == method) {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// ProjectCalls returns how many requests the server answered for the
// project with this ID, whatever their API. Listings of a folder's or an
// organisation's children, and folder and organisation calls, are for no
// project.
func (s *Server) ProjectCalls(project string) int64 {
	if n, ok := s.projectCalls.Load(project); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// call is what the router learned about one request.
type call struct {
	Service string
	Method  string
	// Permission is the IAM permission the method needs (the first, when
	// it needs several), quoted by access-denied errors as Google's are.
	Permission string
	// Project is the project the request is for; nil for folder and
	// organisation calls and for unknown projects (ProjectID says which).
	Project   *Project
	ProjectID string
	// Args are the path parameters after the project: a location, a key
	// ring, a service account, a folder.
	Args []string
	r    *http.Request
}

// handler answers one routed call.
type handler func(w http.ResponseWriter, c *call)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Reading the body first lets the server notice a client that hangs up
	// while a Slow fault holds its request.
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "badRequest", "gcpsim: read body: "+err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c, h := s.route(r)
	if h == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "notFound",
			fmt.Sprintf("gcpsim: %s %s is not simulated", r.Method, r.URL.Path))
		return
	}
	key := c.Service + ":" + c.Method
	c.Permission, _, _ = strings.Cut(Permissions()[key], " ")
	n, _ := s.calls.LoadOrStore(key, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if c.ProjectID != "" {
		n, _ := s.projectCalls.LoadOrStore(c.ProjectID, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}

	if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "authError",
			"Request had invalid authentication credentials. Expected OAuth 2 access token.")
		return
	}
	if f := s.fault(c); f != nil {
		if f.Kind != Slow {
			writeFault(w, c, f.Kind)
			return
		}
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	// Google answers 403 for a project that does not exist as for one the
	// caller may not see, so as not to tell them apart.
	if c.ProjectID != "" && (c.Project == nil || c.Project.Deleted) {
		writeDenied(w, c)
		return
	}
	h(w, c)
}

func (s *Server) fault(c *call) *faultState {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		if (f.Project != "" && f.Project != c.ProjectID) ||
			(f.Service != "" && f.Service != c.Service) ||
			(f.Method != "" && f.Method != c.Method) {
			continue
		}
		if f.Resource != "" && !strings.Contains(c.r.URL.Path, f.Resource) && !strings.Contains(c.r.URL.RawQuery, f.Resource) {
			continue
		}
		f.hits++
		return f
	}
	return nil
}

// route maps a request to its API method by path, as Google's front end
// does by host and path.
func (s *Server) route(r *http.Request) (*call, handler) {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	c := &call{r: r}
	at := func(i int) string {
		if i < len(seg) {
			return seg[i]
		}
		return ""
	}
	project := func(id string) {
		c.ProjectID = id
		c.Project = s.estate.Project(id)
	}
	get := r.Method == http.MethodGet
	switch {
	// Cloud Storage JSON API.
	case at(0) == "storage" && at(1) == "v1" && at(2) == "b" && len(seg) == 3 && get:
		c.Service, c.Method = "storage", "buckets.list"
		project(r.URL.Query().Get("project"))
		return c, s.listBuckets

	// Compute Engine v1.
	case at(0) == "compute" && at(1) == "v1" && at(2) == "projects" && get:
		project(at(3))
		c.Service = "compute"
		switch rest := strings.Join(seg[min(4, len(seg)):], "/"); rest {
		case "":
			c.Method = "projects.get"
			return c, s.getComputeProject
		case "aggregated/disks":
			c.Method = "disks.aggregatedList"
			return c, s.listDisks
		case "global/firewalls":
			c.Method = "firewalls.list"
			return c, s.listFirewalls
		case "aggregated/subnetworks":
			c.Method = "subnetworks.aggregatedList"
			return c, s.listSubnets
		}

	// Cloud KMS, Cloud SQL Admin and IAM, all v1 under projects/P.
	case at(0) == "v1" && at(1) == "projects" && get:
		project(at(2))
		switch {
		case at(3) == "locations" && len(seg) == 4:
			c.Service, c.Method = "cloudkms", "locations.list"
			return c, s.listKMSLocations
		case at(3) == "locations" && at(5) == "keyRings" && len(seg) == 6:
			c.Service, c.Method = "cloudkms", "keyRings.list"
			c.Args = []string{at(4)}
			return c, s.listKeyRings
		case at(3) == "locations" && at(5) == "keyRings" && at(7) == "cryptoKeys" && len(seg) == 8:
			c.Service, c.Method = "cloudkms", "cryptoKeys.list"
			c.Args = []string{at(4), at(6)}
			return c, s.listCryptoKeys
		case at(3) == "instances" && len(seg) == 4:
			c.Service, c.Method = "sqladmin", "instances.list"
			return c, s.listSQLInstances
		case at(3) == "serviceAccounts" && len(seg) == 4:
			c.Service, c.Method = "iam", "serviceAccounts.list"
			return c, s.listServiceAccounts
		case at(3) == "serviceAccounts" && at(5) == "keys" && len(seg) == 6:
			c.Service, c.Method = "iam", "serviceAccounts.keys.list"
			c.Args = []string{at(4)}
			return c, s.listServiceAccountKeys
		}

	// Resource Manager v3.
	case at(0) == "v3":
		c.Service = "cloudresourcemanager"
		kind, name := at(1), at(2)
		id, verb, _ := strings.Cut(name, ":")
		switch {
		case kind == "projects" && len(seg) == 2 && get:
			c.Method = "projects.list"
			return c, s.listProjects
		case kind == "folders" && len(seg) == 2 && get:
			c.Method = "folders.list"
			return c, s.listFolders
		case len(seg) != 3:
			// Nothing else is simulated under /v3.
		case kind == "projects" && verb == "" && get:
			project(id)
			c.Method = "projects.get"
			return c, s.getProject
		case kind == "projects" && verb == "getIamPolicy" && r.Method == http.MethodPost:
			project(id)
			c.Method = "projects.getIamPolicy"
			return c, s.getProjectPolicy
		case kind == "folders" && verb == "" && get:
			c.Method, c.Args = "folders.get", []string{id}
			return c, s.getFolder
		case kind == "folders" && verb == "getIamPolicy" && r.Method == http.MethodPost:
			c.Method, c.Args = "folders.getIamPolicy", []string{id}
			return c, s.getFolderPolicy
		case kind == "organizations" && verb == "getIamPolicy" && r.Method == http.MethodPost:
			c.Method, c.Args = "organizations.getIamPolicy", []string{id}
			return c, s.getOrganizationPolicy
		}
	}
	return c, nil
}

// Permissions maps every method the server answers to the IAM
// permissions it needs (space-separated), as "service:method" ->
// permissions. It is the least privilege the GCP collector needs; the
// Cloud Storage listing asks for every bucket property, ACLs included,
// which takes storage.buckets.getIamPolicy as well.
func Permissions() map[string]string {
	return map[string]string{
		"storage:buckets.list":                            "storage.buckets.list storage.buckets.getIamPolicy",
		"compute:projects.get":                            "compute.projects.get",
		"compute:disks.aggregatedList":                    "compute.disks.list",
		"compute:firewalls.list":                          "compute.firewalls.list",
		"compute:subnetworks.aggregatedList":              "compute.subnetworks.list",
		"cloudkms:locations.list":                         "cloudkms.locations.list",
		"cloudkms:keyRings.list":                          "cloudkms.keyRings.list",
		"cloudkms:cryptoKeys.list":                        "cloudkms.cryptoKeys.list",
		"sqladmin:instances.list":                         "cloudsql.instances.list",
		"iam:serviceAccounts.list":                        "iam.serviceAccounts.list",
		"iam:serviceAccounts.keys.list":                   "iam.serviceAccountKeys.list",
		"cloudresourcemanager:projects.list":              "resourcemanager.projects.list",
		"cloudresourcemanager:folders.list":               "resourcemanager.folders.list",
		"cloudresourcemanager:projects.get":               "resourcemanager.projects.get",
		"cloudresourcemanager:folders.get":                "resourcemanager.folders.get",
		"cloudresourcemanager:projects.getIamPolicy":      "resourcemanager.projects.getIamPolicy",
		"cloudresourcemanager:folders.getIamPolicy":       "resourcemanager.folders.getIamPolicy",
		"cloudresourcemanager:organizations.getIamPolicy": "resourcemanager.organizations.getIamPolicy",
	}
}

// writeError writes Google's JSON error body: the google.rpc status code
// name, and the legacy errors list with its reason, which client
// libraries read.
func writeError(w http.ResponseWriter, code int, status, reason, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"errors":  []map[string]string{{"message": message, "domain": "global", "reason": reason}},
		"status":  status,
	}})
}

// writeDenied answers 403 for c, naming the permission it lacks.
func writeDenied(w http.ResponseWriter, c *call) {
	on, _, _ := strings.Cut(strings.TrimPrefix(c.r.URL.Path, "/v3/"), ":")
	if c.ProjectID != "" {
		on = "projects/" + c.ProjectID
	}
	writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "forbidden",
		fmt.Sprintf("Permission '%s' denied on resource '%s' (or it may not exist).", c.Permission, on))
}

func writeFault(w http.ResponseWriter, c *call, k FaultKind) {
	switch k {
	case AccessDenied:
		writeDenied(w, c)
	case Throttle:
		writeError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "rateLimitExceeded",
			fmt.Sprintf("Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service '%s.googleapis.com'.", c.Service))
	case ThrottleForbidden:
		message := fmt.Sprintf("Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service '%s.googleapis.com' for consumer 'project_number:%s'.", c.Service, projectNumber(c))
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"code":    http.StatusForbidden,
			"message": message,
			"errors":  []map[string]string{{"message": message, "domain": "usageLimits", "reason": "rateLimitExceeded"}},
		}})
	case ServerError:
		writeError(w, http.StatusInternalServerError, "INTERNAL", "backendError", "Internal error encountered.")
	case Malformed:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "<<{{ not a valid response")
	}
}

// projectNumber is the number of c's project, or 0 when it has none.
func projectNumber(c *call) string {
	if c.Project == nil {
		return "0"
	}
	return formatNumber(c.Project.Number)
}

// writeJSON writes v as JSON with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The status line is gone already; the truncated body makes the
		// client fail loudly, which is what a test wants.
		io.WriteString(w, "encode error: "+err.Error())
	}
}

// page is one page of a listing of n items.
type page struct {
	start, end int
	next       string
}

// pageOf pages a listing of n items the way Google APIs do: size is the
// page size the client asked for (param), capped at max and defaulting to
// def; token is the opaque nextPageToken of the previous page. A token
// the server did not hand out is a 400 INVALID_ARGUMENT, already written.
func pageOf(w http.ResponseWriter, c *call, n int, param string, def, max int) (page, bool) {
	q := c.r.URL.Query()
	size := def
	if v := q.Get(param); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || s < 0 {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "invalid", fmt.Sprintf("Invalid value for %s: %q", param, v))
			return page{}, false
		}
		if s > 0 {
			size = min(s, max)
		}
	}
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		off, ok := strings.CutPrefix(string(raw), "offset:")
		i, aerr := strconv.Atoi(off)
		if err != nil || !ok || aerr != nil || i < 0 || i > n {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "invalid", "Invalid page token.")
			return page{}, false
		}
		start = i
	}
	p := page{start: start, end: min(start+size, n)}
	if p.end < n {
		p.next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(p.end)))
	}
	return p, true
}

func formatNumber(n int64) string { return strconv.FormatInt(n, 10) }
