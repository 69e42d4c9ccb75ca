package azuresim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// FaultKind is a failure the server can be told to answer with.
type FaultKind int

// Faults the server can inject, each as Azure Resource Manager sends it.
const (
	// AccessDenied answers 403 AuthorizationFailed, as ARM does when the
	// identity has no role granting the action.
	AccessDenied FaultKind = iota + 1
	// Throttle answers 429 with Retry-After, as ARM's token buckets do:
	// SubscriptionRequestsThrottled for a request that names a
	// subscription, TenantRequestsThrottled for a tenant-level one
	// (listing subscriptions, reading management groups).
	Throttle
	// ServerError answers 500 InternalServerError.
	ServerError
	// Malformed answers 200 with a body the SDK cannot parse.
	Malformed
	// Slow holds the request for Fault.Delay before answering normally.
	Slow
)

// Fault makes matching requests fail. Empty fields match anything.
type Fault struct {
	// Subscription is the subscription ID in the request path.
	Subscription string
	// Service is the simulator's service name: subscriptions,
	// managementgroups, storage, keyvault, network, sql, monitor, defender
	// or compute.
	Service string
	// Operation is the REST API's operation ID, e.g. StorageAccounts_List,
	// Keys_List, TransparentDataEncryptions_Get (see Operations).
	Operation string
	// Resource, when set, must appear in the request path (a vault name, a
	// server name), compared without regard to case.
	Resource string
	Kind     FaultKind
	// Delay is how long Slow holds a request.
	Delay time.Duration
	// RetryAfter is what Throttle tells the client to wait; zero means one
	// second. Below a second it is sent as retry-after-ms too, which the
	// SDK prefers, so that tests stay fast.
	RetryAfter time.Duration
	// Times limits how many requests the fault hits; 0 means all of them.
	Times int
}

// Server answers Azure Resource Manager calls for an Estate.
type Server struct {
	// PageSize is how many items one page of a pageable list holds before
	// a nextLink points to the rest. Set it before Start; 0 means 50.
	PageSize int

	estate *Estate
	token  string
	routes []*route

	mu     sync.Mutex
	faults []*faultState

	calls    sync.Map // "service:Operation" -> *atomic.Int64
	subCalls sync.Map // lower-case subscription ID -> *atomic.Int64
}

type faultState struct {
	Fault
	hits int
}

// NewServer returns a server for e, with a fresh bearer token of its own.
func NewServer(e *Estate) *Server {
	var b [16]byte
	// crypto/rand.Read never fails on the platforms Go supports.
	rand.Read(b[:])
	return &Server{estate: e, token: "azuresim." + hex.EncodeToString(b[:]), routes: routes()}
}

// Start serves over TLS on a loopback port until the returned server is
// closed. Clients reach it through the returned server's Client(), which
// trusts its certificate.
func (s *Server) Start() *httptest.Server {
	ts := httptest.NewUnstartedServer(s)
	// Closing the server while clients still race to open spare
	// connections logs TLS handshake errors that mean nothing here.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	return ts
}

// Credential returns a token credential the server accepts: it hands out
// the server's bearer token without any network call.
func (s *Server) Credential() azcore.TokenCredential { return credential{token: s.token} }

// Token is the bearer token the server accepts, for tests that make sure it
// never leaks into evidence.
func (s *Server) Token() string { return s.token }

type credential struct{ token string }

// GetToken implements azcore.TokenCredential.
func (c credential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

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
// operation ("" for every operation of the service), faults included.
func (s *Server) Calls(service, operation string) int64 {
	var n int64
	s.calls.Range(func(k, v any) bool {
		svc, op, _ := strings.Cut(k.(string), ":")
		if svc == service && (operation == "" || op == operation) {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// CallsIn returns how many requests the server answered that named
// subscription id in their path (compared without regard to case), faults
// included: every call a collector made for that subscription.
func (s *Server) CallsIn(id string) int64 {
	if n, ok := s.subCalls.Load(strings.ToLower(id)); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// call is what the router learned about one request.
type call struct {
	route  *route
	params map[string]string
	sub    *Subscription
}

// ServeHTTP answers one ARM request: it checks the bearer token and the
// api-version, counts the call, applies the first matching fault and
// otherwise answers from the estate.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-request-id", requestID)
	w.Header().Set("x-ms-correlation-request-id", requestID)
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken",
			"The access token is invalid or missing.")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed",
			fmt.Sprintf("azuresim answers reads only, not %s", r.Method))
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "MissingApiVersionParameter",
			"The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	c := s.match(r.URL.Path)
	if c == nil {
		writeError(w, http.StatusNotFound, "NotSimulated", fmt.Sprintf("azuresim does not simulate GET %s", r.URL.Path))
		return
	}
	key := c.route.service + ":" + c.route.operation
	n, _ := s.calls.LoadOrStore(key, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if sub := c.params["subscriptionId"]; sub != "" {
		n, _ := s.subCalls.LoadOrStore(strings.ToLower(sub), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}

	if f := s.fault(c, r); f != nil {
		if f.Kind == Slow {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		} else {
			writeFault(w, c, f.Fault)
			return
		}
	}
	if sub, ok := c.params["subscriptionId"]; ok {
		c.sub = s.estate.Subscription(sub)
		if c.sub == nil {
			writeError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", sub))
			return
		}
	}
	c.route.serve(s, w, r, c)
}

func (s *Server) fault(c *call, r *http.Request) *faultState {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		if (f.Subscription != "" && !equalFold(f.Subscription, c.params["subscriptionId"])) ||
			(f.Service != "" && f.Service != c.route.service) ||
			(f.Operation != "" && f.Operation != c.route.operation) {
			continue
		}
		if f.Resource != "" && !strings.Contains(strings.ToLower(r.URL.Path), strings.ToLower(f.Resource)) {
			continue
		}
		f.hits++
		return f
	}
	return nil
}

// requestID is the correlation ID every answer carries; the SDK quotes it
// in errors.
const requestID = "00000000-0000-0000-0000-00000000a5a5"

func writeFault(w http.ResponseWriter, c *call, f Fault) {
	switch f.Kind {
	case AccessDenied:
		scope := "/subscriptions/" + c.params["subscriptionId"]
		if c.params["subscriptionId"] == "" {
			scope = "/"
		}
		writeError(w, http.StatusForbidden, "AuthorizationFailed", fmt.Sprintf(
			"The client '00000000-0000-0000-0000-0000000c11e7' with object id '00000000-0000-0000-0000-0000000c11e7' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
			c.route.action, scope))
	case Throttle:
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		if ra%time.Second != 0 {
			w.Header().Set("retry-after-ms", strconv.FormatInt(ra.Milliseconds(), 10))
		}
		if c.params["subscriptionId"] == "" {
			w.Header().Set("x-ms-ratelimit-remaining-tenant-reads", "0")
			writeError(w, http.StatusTooManyRequests, "TenantRequestsThrottled",
				"Number of 'read' requests for tenant exceeded the limit. Please try again later.")
			return
		}
		w.Header().Set("x-ms-ratelimit-remaining-subscription-reads", "0")
		writeError(w, http.StatusTooManyRequests, "SubscriptionRequestsThrottled",
			"Number of 'read' requests for subscription exceeded the limit. Please try again later.")
	case ServerError:
		writeError(w, http.StatusInternalServerError, "InternalServerError",
			"Encountered internal server error. Diagnostic information: timestamp '20260101T000000Z'.")
	case Malformed:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "<<{{ not a valid response")
	}
}

// writeError writes an ARM error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-failure-cause", "gateway")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

// writePage writes one page of items, with a nextLink to the rest when
// there is more. The link is absolute and carries $skiptoken, as ARM's do.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, items []any) {
	size := s.PageSize
	if size <= 0 {
		size = 50
	}
	start := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			writeError(w, http.StatusBadRequest, "InvalidSkipToken", fmt.Sprintf("The skip token %q is not valid.", tok))
			return
		}
		start = n
	}
	end := min(start+size, len(items))
	page := map[string]any{"value": append([]any{}, items[start:end]...)}
	if end < len(items) {
		u := *r.URL
		q := u.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		u.RawQuery = q.Encode()
		u.Scheme, u.Host = "https", r.Host
		page["nextLink"] = u.String()
	}
	writeJSON(w, page)
}

// writeAll writes items as one unpaged list, for the operations whose REST
// API has no paging.
func writeAll(w http.ResponseWriter, items []any) {
	writeJSON(w, map[string]any{"value": append([]any{}, items...)})
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
