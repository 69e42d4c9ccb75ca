package azuresim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

const testSub = "11111111-1111-4111-8111-111111111111"

func testEstate() *Estate {
	return &Estate{
		TenantID: "99999999-9999-4999-8999-999999999999",
		ManagementGroups: []*ManagementGroup{
			{ID: "root"}, {ID: "mg-a", Parent: "root"}, {ID: "mg-a1", Parent: "mg-a"}, {ID: "mg-b", Parent: "root"},
		},
		Subscriptions: []*Subscription{
			{ID: testSub, ManagementGroup: "mg-a1", StorageAccounts: []StorageAccount{
				{Name: "st1", ResourceGroup: "rg", Location: "westeurope"},
				{Name: "st2", ResourceGroup: "rg", Location: "westeurope"},
				{Name: "st3", ResourceGroup: "rg", Location: "westeurope"},
			}},
			{ID: "22222222-2222-4222-8222-222222222222", ManagementGroup: "mg-b"},
			{ID: "33333333-3333-4333-8333-333333333333"},
		},
	}
}

// client talks to a started simulator with its token.
type client struct {
	t    *testing.T
	ts   *httptest.Server
	auth string
}

func start(t *testing.T, s *Server) *client {
	ts := s.Start()
	t.Cleanup(ts.Close)
	return &client{t: t, ts: ts, auth: "Bearer " + s.Token()}
}

// get fetches path (or an absolute URL) and decodes the JSON answer.
func (c *client) get(path string) (int, http.Header, map[string]any) {
	c.t.Helper()
	url := path
	if !strings.HasPrefix(path, "https://") {
		url = c.ts.URL + path
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.ts.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(body, &m)
	return resp.StatusCode, resp.Header, m
}

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestRequestsAreCheckedLikeARM(t *testing.T) {
	c := start(t, NewServer(testEstate()))
	for _, tc := range []struct {
		name, path, auth string
		status           int
		code             string
	}{
		{"a wrong token is refused", "/subscriptions?api-version=2022-12-01", "Bearer nope", 401, "InvalidAuthenticationToken"},
		{"no token is refused", "/subscriptions?api-version=2022-12-01", "-", 401, "InvalidAuthenticationToken"},
		{"api-version is required", "/subscriptions", "", 400, "MissingApiVersionParameter"},
		{"an unknown path is not simulated", "/subscriptions/" + testSub + "/providers/Microsoft.Web/sites?api-version=1", "", 404, "NotSimulated"},
		{"an unknown subscription is not found", "/subscriptions/44444444-4444-4444-8444-444444444444/providers/Microsoft.Compute/disks?api-version=1", "", 404, "SubscriptionNotFound"},
		{"an unknown management group is not readable", "/providers/Microsoft.Management/managementGroups/nope/descendants?api-version=1", "", 403, "AuthorizationFailed"},
		{"an unknown vault is not found", "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/nope/keys?api-version=1", "", 404, "ResourceNotFound"},
		{"paths are case-insensitive", "/SUBSCRIPTIONS/" + testSub + "/PROVIDERS/microsoft.storage/STORAGEACCOUNTS?api-version=1", "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := *c
			cc.t = t
			switch tc.auth {
			case "-":
				cc.auth = ""
			case "":
			default:
				cc.auth = tc.auth
			}
			status, _, body := cc.get(tc.path)
			if status != tc.status || errorCode(body) != tc.code {
				t.Errorf("got %d %q, want %d %q (%v)", status, errorCode(body), tc.status, tc.code, body)
			}
		})
	}
}

func TestListsArePagedThroughNextLink(t *testing.T) {
	s := NewServer(testEstate())
	s.PageSize = 2
	c := start(t, s)
	var names []string
	next := "/subscriptions/" + testSub + "/providers/Microsoft.Storage/storageAccounts?api-version=2023-05-01"
	pages := 0
	for next != "" {
		status, _, body := c.get(next)
		if status != 200 {
			t.Fatalf("page %d: status %d", pages, status)
		}
		pages++
		for _, v := range body["value"].([]any) {
			names = append(names, v.(map[string]any)["name"].(string))
		}
		next, _ = body["nextLink"].(string)
		if next != "" && !strings.Contains(next, "api-version=2023-05-01") {
			t.Errorf("nextLink %q drops the api-version", next)
		}
	}
	if pages != 2 || !slices.Equal(names, []string{"st1", "st2", "st3"}) {
		t.Errorf("%d pages of %v, want 2 pages of st1..st3", pages, names)
	}
	if n := s.Calls("storage", "StorageAccounts_List"); n != 2 {
		t.Errorf("Calls = %d, want 2", n)
	}
}

func TestDescendantsIncludeNestedGroups(t *testing.T) {
	c := start(t, NewServer(testEstate()))
	_, _, body := c.get("/providers/Microsoft.Management/managementGroups/mg-a/descendants?api-version=2021-04-01")
	var got []string
	for _, v := range body["value"].([]any) {
		got = append(got, v.(map[string]any)["id"].(string))
	}
	want := []string{"/providers/Microsoft.Management/managementGroups/mg-a1", "/subscriptions/" + testSub}
	if !slices.Equal(got, want) {
		t.Errorf("descendants %v, want %v", got, want)
	}
	_, _, body = c.get("/providers/Microsoft.Management/managementGroups/root/descendants?api-version=2021-04-01")
	if n := len(body["value"].([]any)); n != 6 {
		t.Errorf("root has %d descendants, want 3 groups and 3 subscriptions", n)
	}
}

func TestFaults(t *testing.T) {
	disks := "/subscriptions/" + testSub + "/providers/Microsoft.Compute/disks?api-version=1"
	for _, tc := range []struct {
		name   string
		fault  Fault
		path   string
		status int
		code   string
		header map[string]string
	}{
		{"denied", Fault{Kind: AccessDenied}, disks, 403, "AuthorizationFailed", nil},
		{"throttled with Retry-After", Fault{Kind: Throttle}, disks, 429, "SubscriptionRequestsThrottled",
			map[string]string{"Retry-After": "1", "x-ms-ratelimit-remaining-subscription-reads": "0"}},
		{"throttled at tenant level", Fault{Kind: Throttle}, "/subscriptions?api-version=1", 429, "TenantRequestsThrottled",
			map[string]string{"Retry-After": "1", "x-ms-ratelimit-remaining-tenant-reads": "0"}},
		{"throttled briefly", Fault{Kind: Throttle, RetryAfter: 1500 * time.Millisecond}, disks, 429, "SubscriptionRequestsThrottled",
			map[string]string{"Retry-After": "2", "Retry-After-Ms": "1500"}},
		{"server error", Fault{Kind: ServerError}, disks, 500, "InternalServerError", nil},
		{"malformed", Fault{Kind: Malformed}, disks, 200, "", nil},
		{"matched by subscription", Fault{Subscription: testSub, Kind: AccessDenied}, disks, 403, "AuthorizationFailed", nil},
		{"not matched by another subscription", Fault{Subscription: "22222222-2222-4222-8222-222222222222", Kind: AccessDenied}, disks, 200, "", nil},
		{"matched by service", Fault{Service: "compute", Kind: AccessDenied}, disks, 403, "AuthorizationFailed", nil},
		{"not matched by another service", Fault{Service: "storage", Kind: AccessDenied}, disks, 200, "", nil},
		{"matched by operation", Fault{Operation: "Disks_List", Kind: AccessDenied}, disks, 403, "AuthorizationFailed", nil},
		{"matched by resource", Fault{Resource: "microsoft.compute", Kind: AccessDenied}, disks, 403, "AuthorizationFailed", nil},
		{"not matched by another resource", Fault{Resource: "kv-x", Kind: AccessDenied}, disks, 200, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(testEstate())
			s.Inject(tc.fault)
			status, h, body := start(t, s).get(tc.path)
			if status != tc.status || errorCode(body) != tc.code {
				t.Errorf("got %d %q, want %d %q", status, errorCode(body), tc.status, tc.code)
			}
			for k, v := range tc.header {
				if h.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
				}
			}
			if tc.fault.Kind == Malformed && body != nil {
				t.Errorf("malformed answer decoded as %v", body)
			}
		})
	}
}

func TestFaultTimesAndClear(t *testing.T) {
	s := NewServer(testEstate())
	s.Inject(Fault{Operation: "Subscriptions_List", Kind: ServerError, Times: 1})
	c := start(t, s)
	if status, _, _ := c.get("/subscriptions?api-version=1"); status != 500 {
		t.Errorf("first call: %d, want 500", status)
	}
	if status, _, _ := c.get("/subscriptions?api-version=1"); status != 200 {
		t.Errorf("second call: %d, want 200 once the fault is spent", status)
	}
	s.Inject(Fault{Kind: AccessDenied})
	s.ClearFaults()
	if status, _, _ := c.get("/subscriptions?api-version=1"); status != 200 {
		t.Errorf("after ClearFaults: %d, want 200", status)
	}
}

func TestCallsAreCountedPerSubscription(t *testing.T) {
	s := NewServer(testEstate())
	s.Inject(Fault{Subscription: testSub, Operation: "Disks_List", Kind: AccessDenied, Times: 1})
	c := start(t, s)
	upper := strings.ToUpper(testSub)
	for _, path := range []string{
		"/subscriptions?api-version=1",
		"/subscriptions/" + testSub + "?api-version=1",
		"/subscriptions/" + testSub + "/providers/Microsoft.Compute/disks?api-version=1",
		"/subscriptions/" + upper + "/providers/Microsoft.Compute/disks?api-version=1",
		"/subscriptions/22222222-2222-4222-8222-222222222222/providers/Microsoft.Compute/disks?api-version=1",
		"/providers/Microsoft.Management/managementGroups/root/descendants?api-version=1",
	} {
		c.get(path)
	}
	for _, tc := range []struct {
		sub  string
		want int64
	}{
		{testSub, 3}, // the denied call counts too; case does not matter
		{upper, 3},
		{"22222222-2222-4222-8222-222222222222", 1},
		{"33333333-3333-4333-8333-333333333333", 0},
	} {
		if got := s.CallsIn(tc.sub); got != tc.want {
			t.Errorf("CallsIn(%s) = %d, want %d", tc.sub, got, tc.want)
		}
	}
}

func TestSlowFaultHonoursCancellation(t *testing.T) {
	s := NewServer(testEstate())
	s.Inject(Fault{Kind: Slow, Delay: time.Minute})
	ts := s.Start()
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/subscriptions?api-version=1", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	start := time.Now()
	if _, err := ts.Client().Do(req); err == nil {
		t.Fatal("a slow answer arrived before the deadline")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancellation took %s", d)
	}
}

func TestCredentialHandsOutTheServersToken(t *testing.T) {
	s := NewServer(testEstate())
	tok, err := s.Credential().GetToken(context.Background(), policyOptions())
	if err != nil || tok.Token != s.Token() || !tok.ExpiresOn.After(time.Now()) {
		t.Errorf("GetToken = %+v, %v; want the server's token, valid", tok, err)
	}
	if NewServer(testEstate()).Token() == s.Token() {
		t.Error("two servers share a token")
	}
}

func TestActionsAreTheReadPermissions(t *testing.T) {
	got := Actions()
	if !slices.IsSorted(got) || len(got) != 15 {
		t.Errorf("Actions() = %v, want 15 sorted actions", got)
	}
	for _, a := range got {
		if !strings.HasPrefix(a, "Microsoft.") || !strings.HasSuffix(a, "/read") {
			t.Errorf("%q is not a Microsoft.*/read action", a)
		}
	}
}
