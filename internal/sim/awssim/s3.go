package awssim

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// s3MaxBuckets is the largest page ListBuckets hands out, and the page it
// uses when the client asks for none (S3's own limit).
const s3MaxBuckets = 10000

// restAction names the operation of a REST-protocol request (S3, GuardDuty)
// from its method, path and query, so that faults and call counts can use
// the SDK's operation names. A request it cannot name is called by its
// method and path.
func restAction(service string, r *http.Request) string {
	switch service {
	case "s3":
		if name := s3Action(r); name != "" {
			return name
		}
	case "guardduty":
		if r.Method == http.MethodGet {
			parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
			switch {
			case len(parts) == 1 && parts[0] == "detector":
				return "ListDetectors"
			case len(parts) == 2 && parts[0] == "detector":
				return "GetDetector"
			}
		}
	}
	return r.Method + " " + r.URL.Path
}

// s3Action names an S3 request addressed path-style. The SDK marks some
// operations with an x-id query parameter; the others are told apart by
// their subresource.
func s3Action(r *http.Request) string {
	q := r.URL.Query()
	if id := q.Get("x-id"); id != "" {
		return id
	}
	bucket, key := s3Path(r.URL.Path)
	if r.Method != http.MethodGet || key != "" {
		return ""
	}
	if bucket == "" {
		return "ListBuckets"
	}
	switch {
	case q.Has("encryption"):
		return "GetBucketEncryption"
	case q.Has("publicAccessBlock"):
		return "GetPublicAccessBlock"
	case q.Has("policy"):
		return "GetBucketPolicy"
	case q.Has("versioning"):
		return "GetBucketVersioning"
	case q.Has("location"):
		return "GetBucketLocation"
	case q.Get("list-type") == "2":
		return "ListObjectsV2"
	}
	return "ListObjects"
}

// s3Path splits a path-style request path into bucket and object key.
func s3Path(p string) (bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return bucket, key
}

// s3Index is one account's buckets sorted by name, for ListBuckets paging
// and per-bucket lookups that stay fast in large generated estates.
type s3Index struct {
	sorted []*Bucket
}

// s3Buckets returns the bucket index of a, building it on first use. The
// estate is read-only while served, so the index never goes stale.
func (s *Server) s3Buckets(a *Account) *s3Index {
	if v, ok := s.s3idx.Load(a); ok {
		return v.(*s3Index)
	}
	idx := &s3Index{sorted: make([]*Bucket, len(a.Buckets))}
	for i := range a.Buckets {
		idx.sorted[i] = &a.Buckets[i]
	}
	slices.SortFunc(idx.sorted, func(x, y *Bucket) int { return strings.Compare(x.Name, y.Name) })
	v, _ := s.s3idx.LoadOrStore(a, idx)
	return v.(*s3Index)
}

// find returns the bucket called name, or nil.
func (x *s3Index) find(name string) *Bucket {
	i, ok := slices.BinarySearchFunc(x.sorted, name, func(b *Bucket, n string) int { return strings.Compare(b.Name, n) })
	if !ok {
		return nil
	}
	return x.sorted[i]
}

// serveS3 answers the S3 REST-XML API, path-style. Requests for a bucket
// are answered whatever region they were signed for: the SDK sends them to
// the bucket's region, older clients to the home region.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, req *request) {
	if req.Action == "ListBuckets" {
		s.s3ListBuckets(w, r, req)
		return
	}
	name, _ := s3Path(r.URL.Path)
	b := s.s3Buckets(req.Account).find(name)
	if name != "" && b == nil {
		writeError(w, req, APIError{Status: 404, Code: "NoSuchBucket", Message: "The specified bucket does not exist"})
		return
	}
	switch req.Action {
	case "GetBucketLocation":
		loc := b.Region
		if loc == "us-east-1" {
			// S3 reports its oldest region as no constraint at all.
			loc = ""
		}
		writeXML(w, s3Location{XMLName: xml.Name{Space: s3Namespace, Local: "LocationConstraint"}, Region: loc})
	case "GetBucketEncryption":
		if b.Encryption == "" {
			writeError(w, req, APIError{Status: 404, Code: "ServerSideEncryptionConfigurationNotFoundError",
				Message: "The server side encryption configuration was not found"})
			return
		}
		rule := s3EncryptionRule{Algorithm: b.Encryption}
		if b.Encryption == "aws:kms" {
			rule.KMSKeyID = "arn:aws:kms:" + b.Region + ":" + req.Account.ID + ":alias/aws/s3"
			rule.BucketKey = true
		}
		writeXML(w, s3Encryption{XMLName: xml.Name{Space: s3Namespace, Local: "ServerSideEncryptionConfiguration"}, Rules: []s3EncryptionRule{rule}})
	case "GetPublicAccessBlock":
		if b.PublicAccessBlock == nil {
			writeError(w, req, APIError{Status: 404, Code: "NoSuchPublicAccessBlockConfiguration",
				Message: "The public access block configuration was not found"})
			return
		}
		f := b.PublicAccessBlock
		writeXML(w, s3PublicAccessBlock{XMLName: xml.Name{Space: s3Namespace, Local: "PublicAccessBlockConfiguration"},
			BlockPublicAcls: f[0], IgnorePublicAcls: f[1], BlockPublicPolicy: f[2], RestrictPublicBuckets: f[3]})
	case "GetBucketPolicy":
		if !b.HasPolicy {
			writeError(w, req, APIError{Status: 404, Code: "NoSuchBucketPolicy", Message: "The bucket policy does not exist"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(s3Policy(req.Account.ID, b))
	case "GetBucketVersioning":
		v := s3Versioning{XMLName: xml.Name{Space: s3Namespace, Local: "VersioningConfiguration"}}
		if b.Versioning {
			v.Status = "Enabled"
		}
		writeXML(w, v)
	default:
		writeError(w, req, APIError{Status: 501, Code: "NotImplemented",
			Message: "awssim: s3 operation " + req.Action + " is not simulated"})
	}
}

// s3ListBuckets answers ListBuckets with S3's paging: max-buckets bounds a
// page and an opaque continuation token (here the last name returned)
// resumes after it.
func (s *Server) s3ListBuckets(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	max := s3MaxBuckets
	if v := q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s3MaxBuckets {
			writeError(w, req, APIError{Status: 400, Code: "InvalidArgument",
				Message: "max-buckets must be an integer from 1 to 10000"})
			return
		}
		max = n
	}
	sorted := s.s3Buckets(req.Account).sorted
	start := 0
	if tok := q.Get("continuation-token"); tok != "" {
		after, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			writeError(w, req, APIError{Status: 400, Code: "InvalidArgument", Message: "The continuation token provided is incorrect"})
			return
		}
		start, _ = slices.BinarySearchFunc(sorted, string(after), func(b *Bucket, n string) int { return strings.Compare(b.Name, n) })
		if start < len(sorted) && sorted[start].Name == string(after) {
			start++
		}
	}
	prefix, region := q.Get("prefix"), q.Get("bucket-region")
	out := s3ListAllMyBuckets{
		XMLName: xml.Name{Space: s3Namespace, Local: "ListAllMyBucketsResult"},
		Owner:   s3Owner{ID: s3CanonicalID(req.Account.ID), DisplayName: "sim-" + req.Account.ID},
		Prefix:  prefix,
	}
	for _, b := range sorted[start:] {
		if !strings.HasPrefix(b.Name, prefix) || (region != "" && b.Region != region) {
			continue
		}
		if len(out.Buckets) == max {
			out.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Buckets[max-1].Name))
			break
		}
		out.Buckets = append(out.Buckets, s3BucketEntry{
			Name:         b.Name,
			BucketRegion: b.Region,
			BucketArn:    "arn:aws:s3:::" + b.Name,
			CreationDate: "2024-03-01T09:00:00.000Z",
		})
	}
	writeXML(w, out)
}

// s3CanonicalID is a stable stand-in for the account's canonical user ID,
// which S3 spells as 64 hex digits.
func s3CanonicalID(account string) string {
	return fmt.Sprintf("%064s", account)
}

// s3Policy is the bucket policy document of b: a read grant to the
// account, and with TLSOnly the usual deny of requests over plain HTTP.
// Statement shapes alternate between buckets (single values versus
// arrays), as hand-written policies do, so clients must parse both.
func s3Policy(account string, b *Bucket) []byte {
	arn := "arn:aws:s3:::" + b.Name
	terse := len(b.Name)%2 == 0
	stmts := []map[string]any{{
		"Sid":       "AccountRead",
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": "arn:aws:iam::" + account + ":root"},
		"Action":    []string{"s3:GetObject", "s3:ListBucket"},
		"Resource":  []string{arn, arn + "/*"},
	}}
	if b.TLSOnly {
		deny := map[string]any{
			"Sid":       "DenyInsecureTransport",
			"Effect":    "Deny",
			"Principal": "*",
			"Action":    "s3:*",
			"Resource":  []string{arn, arn + "/*"},
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}
		if !terse {
			deny["Principal"] = map[string]any{"AWS": []string{"*"}}
			deny["Action"] = []string{"s3:*"}
		}
		stmts = append(stmts, deny)
	}
	doc := map[string]any{"Version": "2012-10-17", "Statement": stmts}
	if terse && len(stmts) == 1 {
		doc["Statement"] = stmts[0]
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		// Maps of strings always marshal; keep the contract anyway.
		return []byte(`{}`)
	}
	return raw
}

type s3ListAllMyBuckets struct {
	XMLName           xml.Name
	Buckets           []s3BucketEntry `xml:"Buckets>Bucket"`
	Owner             s3Owner
	ContinuationToken string `xml:",omitempty"`
	Prefix            string `xml:",omitempty"`
}

type s3BucketEntry struct {
	Name         string
	CreationDate string
	BucketRegion string
	BucketArn    string
}

type s3Owner struct {
	DisplayName string
	ID          string
}

type s3Location struct {
	XMLName xml.Name
	Region  string `xml:",chardata"`
}

type s3Encryption struct {
	XMLName xml.Name
	Rules   []s3EncryptionRule `xml:"Rule"`
}

type s3EncryptionRule struct {
	Algorithm string `xml:"ApplyServerSideEncryptionByDefault>SSEAlgorithm"`
	KMSKeyID  string `xml:"ApplyServerSideEncryptionByDefault>KMSMasterKeyID,omitempty"`
	BucketKey bool   `xml:"BucketKeyEnabled"`
}

type s3PublicAccessBlock struct {
	XMLName               xml.Name
	BlockPublicAcls       bool
	IgnorePublicAcls      bool
	BlockPublicPolicy     bool
	RestrictPublicBuckets bool
}

type s3Versioning struct {
	XMLName xml.Name
	Status  string `xml:",omitempty"`
}
