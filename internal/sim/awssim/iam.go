package awssim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// serveIAM answers the IAM calls the collector makes, in the AWS query
// protocol.
func (s *Server) serveIAM(w http.ResponseWriter, r *http.Request, req *request) {
	a := req.Account
	switch req.Action {
	case "GetAccountSummary":
		mfa := 0
		if a.RootMFA {
			mfa = 1
		}
		writeQuery(w, req, iamNamespace, struct {
			Entries []iamSummaryEntry `xml:"SummaryMap>entry"`
		}{[]iamSummaryEntry{
			{"AccountMFAEnabled", mfa},
			{"AccountAccessKeysPresent", 0},
			{"Users", len(a.Users)},
		}})
	case "GetAccountPasswordPolicy":
		p := a.PasswordPolicy
		if p == nil {
			writeError(w, req, APIError{Status: 404, Code: "NoSuchEntity",
				Message: "The Password Policy with domain name " + a.ID + " cannot be found."})
			return
		}
		writeQuery(w, req, iamNamespace, struct {
			Policy iamPasswordPolicy `xml:"PasswordPolicy"`
		}{iamPasswordPolicy{
			MinimumPasswordLength:      p.MinimumLength,
			RequireSymbols:             p.RequireSymbols,
			RequireNumbers:             p.RequireNumbers,
			RequireUppercaseCharacters: p.RequireUppercase,
			RequireLowercaseCharacters: p.RequireLowercase,
			AllowUsersToChangePassword: true,
			ExpirePasswords:            p.MaxAge > 0,
			MaxPasswordAge:             p.MaxAge,
			PasswordReusePrevention:    p.ReusePrevention,
		}})
	case "ListUsers":
		size, err := formInt(req.Form, "MaxItems", 100, 1, 1000)
		if err != nil {
			writeError(w, req, invalidInput(err))
			return
		}
		start, end, next, err := pageOf(len(a.Users), req.Form.Get("Marker"), size)
		if err != nil {
			writeError(w, req, invalidInput(err))
			return
		}
		out := iamListUsers{IsTruncated: next != "", Marker: next}
		for _, u := range a.Users[start:end] {
			out.Users = append(out.Users, iamUser{
				Path:       "/",
				UserName:   u.Name,
				UserID:     "AIDASIM" + a.ID + u.Name,
				Arn:        userARN(a.ID, u.Name),
				CreateDate: isoTime(u.Created),
			})
		}
		writeQuery(w, req, iamNamespace, out)
	case "ListMFADevices":
		u, ok := s.iamUser(w, req)
		if !ok {
			return
		}
		out := iamListMFADevices{}
		if u.MFA {
			out.Devices = append(out.Devices, iamMFADevice{
				UserName:     u.Name,
				SerialNumber: "arn:aws:iam::" + a.ID + ":mfa/" + u.Name,
				EnableDate:   isoTime(u.Created),
			})
		}
		writeQuery(w, req, iamNamespace, out)
	case "ListAccessKeys":
		u, ok := s.iamUser(w, req)
		if !ok {
			return
		}
		size, err := formInt(req.Form, "MaxItems", 100, 1, 1000)
		if err != nil {
			writeError(w, req, invalidInput(err))
			return
		}
		start, end, next, err := pageOf(len(u.AccessKeys), req.Form.Get("Marker"), size)
		if err != nil {
			writeError(w, req, invalidInput(err))
			return
		}
		out := iamListAccessKeys{IsTruncated: next != "", Marker: next}
		for _, k := range u.AccessKeys[start:end] {
			status := "Inactive"
			if k.Active {
				status = "Active"
			}
			out.Keys = append(out.Keys, iamAccessKey{UserName: u.Name, AccessKeyID: k.ID, Status: status, CreateDate: isoTime(k.Created)})
		}
		writeQuery(w, req, iamNamespace, out)
	case "GetLoginProfile":
		u, ok := s.iamUser(w, req)
		if !ok {
			return
		}
		if !u.Console {
			writeError(w, req, APIError{Status: 404, Code: "NoSuchEntity",
				Message: "Login Profile for User " + u.Name + " cannot be found."})
			return
		}
		writeQuery(w, req, iamNamespace, struct {
			Profile iamLoginProfile `xml:"LoginProfile"`
		}{iamLoginProfile{UserName: u.Name, CreateDate: isoTime(u.Created)}})
	default:
		writeError(w, req, unknownAction(req))
	}
}

// iamUser finds the user a per-user call names, answering NoSuchEntity (as
// IAM does) when there is none.
func (s *Server) iamUser(w http.ResponseWriter, req *request) (*User, bool) {
	name := req.Form.Get("UserName")
	for i := range req.Account.Users {
		if u := &req.Account.Users[i]; u.Name == name {
			return u, true
		}
	}
	writeError(w, req, APIError{Status: 404, Code: "NoSuchEntity", Message: "The user with name " + name + " cannot be found."})
	return nil, false
}

func userARN(account, name string) string { return "arn:aws:iam::" + account + ":user/" + name }

type iamSummaryEntry struct {
	Key   string `xml:"key"`
	Value int    `xml:"value"`
}

type iamPasswordPolicy struct {
	MinimumPasswordLength      int
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	ExpirePasswords            bool
	// IAM leaves both out when they are not set.
	MaxPasswordAge          int `xml:",omitempty"`
	PasswordReusePrevention int `xml:",omitempty"`
}

type iamUser struct {
	Path       string
	UserName   string
	UserID     string `xml:"UserId"`
	Arn        string
	CreateDate string
}

type iamListUsers struct {
	Users       []iamUser `xml:"Users>member"`
	IsTruncated bool
	Marker      string `xml:",omitempty"`
}

type iamMFADevice struct {
	UserName     string
	SerialNumber string
	EnableDate   string
}

type iamListMFADevices struct {
	Devices     []iamMFADevice `xml:"MFADevices>member"`
	IsTruncated bool
}

type iamAccessKey struct {
	UserName    string
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string
	CreateDate  string
}

type iamListAccessKeys struct {
	Keys        []iamAccessKey `xml:"AccessKeyMetadata>member"`
	IsTruncated bool
	Marker      string `xml:",omitempty"`
}

type iamLoginProfile struct {
	UserName              string
	CreateDate            string
	PasswordResetRequired bool
}

// writeQuery writes result in the AWS query protocol envelope:
// <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>….
// The document is built in memory first so that an encoding mistake
// becomes a clean 500 rather than half a response.
func writeQuery(w http.ResponseWriter, req *request, namespace string, result any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	envelope := xml.StartElement{Name: xml.Name{Local: req.Action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace}}}
	err := enc.EncodeToken(envelope)
	if err == nil && result != nil {
		err = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: req.Action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(struct {
			RequestID string `xml:"RequestId"`
		}{requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(envelope.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		writeError(w, req, APIError{Status: 500, Code: "InternalFailure", Message: "awssim: encode response: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Write(buf.Bytes())
}

// pageOf returns the window [start, end) of a listing of n items that a
// request with marker and page size asks for, and the marker of the page
// after it ("" on the last page). Markers are opaque to clients; the
// simulator's are offsets.
func pageOf(n int, marker string, size int) (start, end int, next string, err error) {
	if marker != "" {
		start, err = strconv.Atoi(marker)
		if err != nil || start < 0 || start > n {
			return 0, 0, "", fmt.Errorf("invalid pagination marker %q", marker)
		}
	}
	end = min(start+size, n)
	if end < n {
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

// formInt reads an integer query parameter, def when absent, and rejects
// values outside [lo, hi] as the services do.
func formInt(form url.Values, key string, def, lo, hi int) (int, error) {
	v := form.Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be an integer from %d to %d, got %q", key, lo, hi, v)
	}
	return n, nil
}

func invalidInput(err error) APIError {
	return APIError{Status: 400, Code: "InvalidInput", Message: err.Error()}
}

func unknownAction(req *request) APIError {
	return APIError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("awssim: %s action %q is not simulated", req.Service, req.Action)}
}

// isoTime formats t as the ISO 8601 timestamps of the query protocols.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
