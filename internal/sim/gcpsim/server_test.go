package gcpsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// send sends one request to s and decodes the JSON answer.
func send(t *testing.T, s *Server, method, url, token string) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"options":{"requestedPolicyVersion":3}}`)
	}
	r := httptest.NewRequest(method, url, body)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v: %s", method, url, err, w.Body.String())
	}
	return w.Code, out
}

// errorOf returns the code, status and first reason of a Google JSON
// error body.
func errorOf(t *testing.T, body map[string]any) (float64, string, string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %v", body)
	}
	items, _ := e["errors"].([]any)
	if len(items) == 0 {
		t.Fatalf("error without errors list: %v", e)
	}
	msg, _ := e["message"].(string)
	if msg == "" {
		t.Errorf("error without message: %v", e)
	}
	return e["code"].(float64), e["status"].(string), items[0].(map[string]any)["reason"].(string)
}

// everyMethod is one request per simulated method, for Demo.
func everyMethod() []struct{ method, url, key string } {
	const p = "demo-prod-eu"
	return []struct{ method, url, key string }{
		{"GET", "/storage/v1/b?project=" + p, "storage:buckets.list"},
		{"GET", "/compute/v1/projects/" + p, "compute:projects.get"},
		{"GET", "/compute/v1/projects/" + p + "/aggregated/disks", "compute:disks.aggregatedList"},
		{"GET", "/compute/v1/projects/" + p + "/global/firewalls", "compute:firewalls.list"},
		{"GET", "/compute/v1/projects/" + p + "/aggregated/subnetworks", "compute:subnetworks.aggregatedList"},
		{"GET", "/v1/projects/" + p + "/locations", "cloudkms:locations.list"},
		{"GET", "/v1/projects/" + p + "/locations/europe-west1/keyRings", "cloudkms:keyRings.list"},
		{"GET", "/v1/projects/" + p + "/locations/europe-west1/keyRings/prod/cryptoKeys", "cloudkms:cryptoKeys.list"},
		{"GET", "/v1/projects/" + p + "/instances", "sqladmin:instances.list"},
		{"GET", "/v1/projects/" + p + "/serviceAccounts", "iam:serviceAccounts.list"},
		{"GET", "/v1/projects/" + p + "/serviceAccounts/app-runtime@" + p + ".iam.gserviceaccount.com/keys?keyTypes=USER_MANAGED", "iam:serviceAccounts.keys.list"},
		{"GET", "/v3/projects?parent=organizations/123456789012", "cloudresourcemanager:projects.list"},
		{"GET", "/v3/folders?parent=organizations/123456789012", "cloudresourcemanager:folders.list"},
		{"GET", "/v3/projects/" + p, "cloudresourcemanager:projects.get"},
		{"GET", "/v3/folders/200000000001", "cloudresourcemanager:folders.get"},
		{"POST", "/v3/projects/" + p + ":getIamPolicy", "cloudresourcemanager:projects.getIamPolicy"},
		{"POST", "/v3/folders/200000000001:getIamPolicy", "cloudresourcemanager:folders.getIamPolicy"},
		{"POST", "/v3/organizations/123456789012:getIamPolicy", "cloudresourcemanager:organizations.getIamPolicy"},
	}
}

func TestEveryMethodAnswersAndIsCounted(t *testing.T) {
	s := NewServer(Demo())
	for _, m := range everyMethod() {
		code, body := send(t, s, m.method, m.url, "")
		if code != http.StatusOK {
			t.Errorf("%s %s: %d %v", m.method, m.url, code, body)
		}
		svc, method, _ := strings.Cut(m.key, ":")
		if n := s.Calls(svc, method); n != 1 {
			t.Errorf("%s: counted %d calls, want 1", m.key, n)
		}
	}
	if got, want := len(Permissions()), len(everyMethod()); got != want {
		t.Errorf("Permissions lists %d methods, the server answers %d", got, want)
	}
}

func TestFaultsAnswerInGooglesErrorFormat(t *testing.T) {
	tests := []struct {
		kind       FaultKind
		code       float64
		status     string
		reason     string
		permission string
	}{
		{AccessDenied, 403, "PERMISSION_DENIED", "forbidden", "compute.firewalls.list"},
		{Throttle, 429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", ""},
		{ServerError, 500, "INTERNAL", "backendError", ""},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			s := NewServer(Demo())
			s.Inject(Fault{Project: "demo-prod-eu", Service: "compute", Method: "firewalls.list", Kind: tt.kind})
			code, body := send(t, s, "GET", "/compute/v1/projects/demo-prod-eu/global/firewalls", "")
			c, st, reason := errorOf(t, body)
			if code != int(tt.code) || c != tt.code || st != tt.status || reason != tt.reason {
				t.Errorf("got %d %v %s %s, want %v %s %s", code, c, st, reason, tt.code, tt.status, tt.reason)
			}
			if tt.permission != "" && !strings.Contains(body["error"].(map[string]any)["message"].(string), tt.permission) {
				t.Errorf("message does not name the permission %s: %v", tt.permission, body)
			}
			// Another project is not hit.
			if code, _ := send(t, s, "GET", "/compute/v1/projects/demo-mgmt-eu/global/firewalls", ""); code != 200 {
				t.Errorf("fault for demo-prod-eu hit demo-mgmt-eu: %d", code)
			}
		})
	}
}

func TestFaultMatching(t *testing.T) {
	s := NewServer(Demo())
	s.Inject(Fault{Service: "cloudkms", Method: "keyRings.list", Resource: "europe-west3", Kind: AccessDenied, Times: 1})
	url := func(l string) string { return "/v1/projects/demo-prod-eu/locations/" + l + "/keyRings" }
	if code, _ := send(t, s, "GET", url("europe-west1"), ""); code != 200 {
		t.Errorf("fault on europe-west3 hit europe-west1: %d", code)
	}
	if code, _ := send(t, s, "GET", url("europe-west3"), ""); code != 403 {
		t.Errorf("first request to europe-west3: %d, want 403", code)
	}
	if code, _ := send(t, s, "GET", url("europe-west3"), ""); code != 200 {
		t.Errorf("second request to europe-west3: %d, want 200 once Times is spent", code)
	}
}

func TestRequestsAreChecked(t *testing.T) {
	s := NewServer(Demo())
	s.Token = "right"
	tests := []struct {
		name, url, token string
		code             float64
		status           string
	}{
		{"missing token", "/v1/projects/demo-prod-eu/instances", "", 401, "UNAUTHENTICATED"},
		{"wrong token", "/v1/projects/demo-prod-eu/instances", "wrong", 401, "UNAUTHENTICATED"},
		{"unknown project", "/v1/projects/nope-project/instances", "right", 403, "PERMISSION_DENIED"},
		{"unknown path", "/v1/projects/demo-prod-eu/widgets", "right", 404, "NOT_FOUND"},
		{"invalid page token", "/v1/projects/demo-prod-eu/instances?pageToken=bogus", "right", 400, "INVALID_ARGUMENT"},
		{"unknown folder", "/v3/projects?parent=folders/42", "right", 403, "PERMISSION_DENIED"},
		{"unknown key ring", "/v1/projects/demo-prod-eu/locations/europe-west1/keyRings/nope/cryptoKeys", "right", 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := send(t, s, "GET", tt.url, tt.token)
			if code, st, _ := errorOf(t, body); code != tt.code || st != tt.status {
				t.Errorf("got %v %s, want %v %s", code, st, tt.code, tt.status)
			}
		})
	}
}

func TestListingsArePaged(t *testing.T) {
	e := Demo()
	p := e.Project("demo-prod-eu")
	url := "/v1/projects/demo-prod-eu/instances?maxResults=3"
	s := NewServer(e)
	var names []string
	for pages := 1; ; pages++ {
		_, body := send(t, s, "GET", url, "")
		for _, it := range body["items"].([]any) {
			names = append(names, it.(map[string]any)["name"].(string))
		}
		next, _ := body["nextPageToken"].(string)
		if next == "" {
			if pages != 2 {
				t.Errorf("%d pages of 3 for %d instances, want 2", pages, len(p.SQLInstances))
			}
			break
		}
		url = "/v1/projects/demo-prod-eu/instances?maxResults=3&pageToken=" + next
	}
	if len(names) != len(p.SQLInstances) {
		t.Errorf("paged through %v, want all %d instances once", names, len(p.SQLInstances))
	}
}

func TestKeyTypesFilter(t *testing.T) {
	e := Demo()
	s := NewServer(e)
	base := "/v1/projects/demo-mgmt-eu/serviceAccounts/eucs-agent@demo-mgmt-eu.iam.gserviceaccount.com/keys"
	for url, want := range map[string]int{base: 1, base + "?keyTypes=USER_MANAGED": 0, base + "?keyTypes=SYSTEM_MANAGED": 1} {
		_, body := send(t, s, "GET", url, "")
		if keys, _ := body["keys"].([]any); len(keys) != want {
			t.Errorf("%s: %d keys, want %d", url, len(keys), want)
		}
	}
}

func TestCallsAreCountedPerProject(t *testing.T) {
	s := NewServer(Demo())
	for _, m := range everyMethod() {
		send(t, s, m.method, m.url, "")
	}
	// Every method but the listings under a parent and the folder and
	// organisation calls is for demo-prod-eu.
	if n := s.ProjectCalls("demo-prod-eu"); n != int64(len(everyMethod())-5) {
		t.Errorf("demo-prod-eu: %d calls, want %d", n, len(everyMethod())-5)
	}
	if n := s.ProjectCalls("demo-mgmt-eu"); n != 0 {
		t.Errorf("demo-mgmt-eu: %d calls, want none", n)
	}
}

func TestThrottleForbiddenAnswersAsComputeEngineDoes(t *testing.T) {
	s := NewServer(Demo())
	s.Inject(Fault{Service: "compute", Kind: ThrottleForbidden})
	code, body := send(t, s, "GET", "/compute/v1/projects/demo-prod-eu/global/firewalls", "")
	e, _ := body["error"].(map[string]any)
	items, _ := e["errors"].([]any)
	if code != http.StatusForbidden || e["code"] != 403.0 || len(items) != 1 {
		t.Fatalf("got %d %v, want 403 with one error item", code, body)
	}
	item := items[0].(map[string]any)
	if item["reason"] != "rateLimitExceeded" || item["domain"] != "usageLimits" {
		t.Errorf("error item %v, want reason rateLimitExceeded in domain usageLimits", item)
	}
	if _, ok := e["status"]; ok {
		t.Errorf("status %v: Compute Engine's rate-limit 403 carries none", e["status"])
	}
	if msg, _ := e["message"].(string); !strings.Contains(msg, "compute.googleapis.com") || !strings.Contains(msg, "Queries per minute") {
		t.Errorf("message %q does not name the quota and service", msg)
	}
}
