package awssim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind is a failure the server can be told to answer with.
type FaultKind int

// Faults the server can inject, each in the wire format of the service.
const (
	// AccessDenied answers the service's access-denied error.
	AccessDenied FaultKind = iota + 1
	// Throttle answers the service's throttling error.
	Throttle
	// ServerError answers HTTP 500 with the service's internal error.
	ServerError
	// Malformed answers HTTP 200 with a body the SDK cannot parse.
	Malformed
	// Slow holds the request for Fault.Delay before answering normally.
	Slow
)

// Fault makes matching requests fail. Empty fields match anything.
type Fault struct {
	Account string
	Region  string
	Service string // signing name: s3, ec2, iam, kms, cloudtrail, rds, guardduty, sts
	Action  string // operation name, e.g. GetBucketEncryption, DescribeVolumes
	// Resource, when set, must appear in the request path or body (a bucket
	// name, a key ID) for the fault to match.
	Resource string
	Kind     FaultKind
	Delay    time.Duration // for Slow
	// Times limits how many requests the fault hits; 0 means all of them.
	Times int
}

// Server answers AWS API calls for an Estate.
//
// Limits and Latency make it behave like AWS under load: set them before
// Start, and do not change them while it serves.
type Server struct {
	// Limits, when set, throttle each account's calls with AWS-like token
	// buckets (DefaultLimits), answering the service's own throttling
	// error in its wire format when a bucket is empty.
	Limits Limits
	// Latency holds every answer this long, as a round trip to AWS does.
	Latency time.Duration

	estate *Estate
	byID   map[string]*Account

	buckets sync.Map // bucket key -> *bucket (limits.go)

	mu      sync.Mutex
	faults  []*faultState
	nfaults atomic.Int32 // len(faults), so that a server without faults takes no lock per request

	calls sync.Map // "service:Action" -> *atomic.Int64

	s3idx sync.Map // *Account -> *s3Index, built on first use (s3.go)
}

type faultState struct {
	Fault
	hits int
}

// NewServer returns a server for e.
func NewServer(e *Estate) *Server {
	s := &Server{estate: e, byID: make(map[string]*Account, len(e.Accounts))}
	for _, a := range e.Accounts {
		s.byID[a.ID] = a
	}
	return s
}

// account returns the estate's account with the given ID, or nil.
func (s *Server) account(id string) *Account { return s.byID[id] }

// Start serves on a loopback port until the returned server is closed.
func (s *Server) Start() *httptest.Server {
	return httptest.NewServer(s)
}

// Inject adds a fault. Faults are checked in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f})
	s.nfaults.Store(int32(len(s.faults)))
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.nfaults.Store(0)
}

// Calls returns how many requests the server answered for service and
// action ("" for every action of the service).
func (s *Server) Calls(service, action string) int64 {
	var n int64
	s.calls.Range(func(k, v any) bool {
		svc, act, _ := strings.Cut(k.(string), ":")
		if svc == service && (action == "" || act == action) {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// TotalCalls returns how many requests the server answered, throttled ones
// included.
func (s *Server) TotalCalls() int64 {
	var n int64
	s.calls.Range(func(_, v any) bool {
		n += v.(*atomic.Int64).Load()
		return true
	})
	return n
}

// request is what the dispatcher learned about one call.
type request struct {
	Service string
	Region  string
	Account *Account
	Action  string
	Body    []byte
	Form    url.Values // query-protocol parameters (body form merged with URL query)
}

// AccessKeyFor is the access key ID the server maps to account: base
// credentials for the first account use it, and STS AssumeRole hands out the
// one of the role's account.
func AccessKeyFor(account string) string { return "AKSIM" + account }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := s.parse(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := req.Service + ":" + req.Action
	c, _ := s.calls.LoadOrStore(key, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
	// The SDK quotes these in its errors; an empty one reads like a bug.
	w.Header().Set("X-Amzn-RequestId", requestID)
	w.Header().Set("X-Amz-Request-Id", requestID)

	// The bucket decides when the request arrives; the answer, throttled or
	// not, comes back after the round trip.
	throttled := s.Limits != nil && !s.admit(req)
	if s.Latency > 0 {
		t := time.NewTimer(s.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if throttled {
		writeFault(w, req, Throttle)
		return
	}
	if f := s.fault(req, r); f != nil {
		if f.Kind == Slow {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		} else {
			writeFault(w, req, f.Kind)
			return
		}
	}
	h, ok := s.handlers()[req.Service]
	if !ok {
		http.Error(w, fmt.Sprintf("awssim: service %q is not simulated", req.Service), http.StatusNotImplemented)
		return
	}
	h(w, r, req)
}

// handlers is the plain map from signing name to the service's handler.
func (s *Server) handlers() map[string]func(http.ResponseWriter, *http.Request, *request) {
	return map[string]func(http.ResponseWriter, *http.Request, *request){
		"s3":            s.serveS3,
		"ec2":           s.serveEC2,
		"iam":           s.serveIAM,
		"sts":           s.serveSTS,
		"kms":           s.serveKMS,
		"cloudtrail":    s.serveCloudTrail,
		"rds":           s.serveRDS,
		"guardduty":     s.serveGuardDuty,
		"organizations": s.serveOrganizations,
	}
}

func (s *Server) parse(r *http.Request) (*request, error) {
	auth := r.Header.Get("Authorization")
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return nil, fmt.Errorf("awssim: request without SigV4 Authorization header")
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return nil, fmt.Errorf("awssim: malformed credential scope %q", cred)
	}
	req := &request{Region: parts[2], Service: parts[3]}
	akid := parts[0]
	if !strings.HasPrefix(akid, "AKSIM") {
		return nil, fmt.Errorf("awssim: unknown access key %q", akid)
	}
	req.Account = s.account(strings.TrimPrefix(akid, "AKSIM"))
	if req.Account == nil {
		return nil, fmt.Errorf("awssim: access key %q belongs to no simulated account", akid)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("awssim: read body: %w", err)
	}
	req.Body = body
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		_, req.Action, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("awssim: parse form: %w", err)
		}
		for k, v := range r.URL.Query() {
			form[k] = append(form[k], v...)
		}
		req.Form = form
		req.Action = form.Get("Action")
	default:
		// REST protocols (S3, GuardDuty): the handler names the action.
		req.Action = restAction(req.Service, r)
	}
	return req, nil
}

func (s *Server) fault(req *request, r *http.Request) *faultState {
	if s.nfaults.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		if (f.Account != "" && f.Account != req.Account.ID) ||
			(f.Region != "" && f.Region != req.Region) ||
			(f.Service != "" && f.Service != req.Service) ||
			(f.Action != "" && f.Action != req.Action) {
			continue
		}
		if f.Resource != "" && !strings.Contains(r.URL.Path, f.Resource) &&
			!strings.Contains(string(req.Body), f.Resource) && !strings.Contains(r.URL.RawQuery, f.Resource) {
			continue
		}
		f.hits++
		return f
	}
	return nil
}

// protocol is the wire format family of a service.
type protocol int

const (
	restXML protocol = iota
	ec2Query
	awsQuery
	json11
	restJSON
)

func protocolOf(service string) protocol {
	switch service {
	case "s3":
		return restXML
	case "ec2":
		return ec2Query
	case "iam", "rds", "sts":
		return awsQuery
	case "kms", "cloudtrail", "organizations":
		return json11
	default:
		return restJSON
	}
}

// APIError is an error in a service's own terms, written by writeError in
// its wire format.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func writeFault(w http.ResponseWriter, req *request, k FaultKind) {
	p := protocolOf(req.Service)
	switch k {
	case AccessDenied:
		e := APIError{Status: 403, Code: "AccessDenied", Message: "User is not authorized to perform " + req.Service + ":" + req.Action}
		switch p {
		case ec2Query:
			e.Code = "UnauthorizedOperation"
		case json11, restJSON:
			e.Code = "AccessDeniedException"
			if p == json11 {
				e.Status = 400
			}
		}
		writeError(w, req, e)
	case Throttle:
		e := APIError{Status: 400, Code: "Throttling", Message: "Rate exceeded"}
		switch p {
		case restXML:
			e.Status, e.Code = 503, "SlowDown"
		case ec2Query:
			e.Status, e.Code = 503, "RequestLimitExceeded"
		case json11:
			e.Code = "ThrottlingException"
			if req.Service == "organizations" {
				e.Code = "TooManyRequestsException"
			}
		case restJSON:
			e.Status, e.Code = 429, "TooManyRequestsException"
		}
		writeError(w, req, e)
	case ServerError:
		writeError(w, req, APIError{Status: 500, Code: "InternalError", Message: "We encountered an internal error. Please try again."})
	case Malformed:
		w.Header().Set("Content-Type", "application/xml")
		if p == json11 || p == restJSON {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(200)
		io.WriteString(w, "<<{{ not a valid response")
	}
}

const requestID = "00000000-sim0-0000-0000-000000000000"

// writeError writes e in the wire format of req's service.
func writeError(w http.ResponseWriter, req *request, e APIError) {
	switch protocolOf(req.Service) {
	case restXML:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`,
			xmlEscape(e.Code), xmlEscape(e.Message), requestID)
	case ec2Query:
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
			xmlEscape(e.Code), xmlEscape(e.Message), requestID)
	case awsQuery:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			xmlEscape(e.Code), xmlEscape(e.Message), requestID)
	case json11:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
	case restJSON:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", e.Code)
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
	}
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeXML writes v as an XML document with status 200.
func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, xml.Header)
	if err := xml.NewEncoder(w).Encode(v); err != nil {
		// The status line is gone already; the truncated body makes the SDK
		// fail loudly, which is what a test wants.
		io.WriteString(w, "<!-- encode error: "+xmlEscape(err.Error())+" -->")
	}
}

// writeJSON writes v as JSON with status 200 and the given content type.
func writeJSON(w http.ResponseWriter, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	json.NewEncoder(w).Encode(v)
}
