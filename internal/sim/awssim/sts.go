package awssim

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"time"
)

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// sessionPrefix starts every session token the simulator hands out, so
// that GetCallerIdentity can tell an assumed role from the base user and
// tests can look for leaked tokens.
const sessionPrefix = "simsession:"

// roleARNRe matches arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME.
var roleARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[^/]+/)*([^/]+)$`)

// serveSTS answers GetCallerIdentity and AssumeRole in the AWS query
// protocol.
func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, req *request) {
	switch req.Action {
	case "GetCallerIdentity":
		id := struct {
			Arn     string
			UserID  string `xml:"UserId"`
			Account string
		}{
			Arn:     "arn:aws:iam::" + req.Account.ID + ":user/sim-agent",
			UserID:  "AIDASIM" + req.Account.ID,
			Account: req.Account.ID,
		}
		if role, session, ok := parseSession(r.Header.Get("X-Amz-Security-Token")); ok {
			id.Arn = "arn:aws:sts::" + req.Account.ID + ":assumed-role/" + role + "/" + session
			id.UserID = "AROASIM" + req.Account.ID + ":" + session
		}
		writeQuery(w, req, stsNamespace, id)
	case "AssumeRole":
		s.assumeRole(w, req)
	default:
		writeError(w, req, unknownAction(req))
	}
}

// assumeRole hands out credentials for a role in any simulated account:
// the simulator models no trust policies beyond the external ID an account
// may demand. The access key maps back to the role's account, so what the
// SDK does next lands there.
func (s *Server) assumeRole(w http.ResponseWriter, req *request) {
	roleARN := req.Form.Get("RoleArn")
	session := req.Form.Get("RoleSessionName")
	if session == "" {
		writeError(w, req, APIError{Status: 400, Code: "ValidationError", Message: "RoleSessionName is required"})
		return
	}
	duration, err := formInt(req.Form, "DurationSeconds", 3600, 900, 43200)
	if err != nil {
		writeError(w, req, APIError{Status: 400, Code: "ValidationError", Message: err.Error()})
		return
	}
	m := roleARNRe.FindStringSubmatch(roleARN)
	if m == nil {
		writeError(w, req, APIError{Status: 400, Code: "ValidationError", Message: "RoleArn " + roleARN + " is not a role ARN"})
		return
	}
	denied := APIError{Status: 403, Code: "AccessDenied",
		Message: "User: arn:aws:iam::" + req.Account.ID + ":user/sim-agent is not authorized to perform: sts:AssumeRole on resource: " + roleARN}
	target := s.account(m[1])
	if target == nil || (target.ExternalID != "" && req.Form.Get("ExternalId") != target.ExternalID) {
		writeError(w, req, denied)
		return
	}
	role, token := m[2], sessionPrefix+base64.RawURLEncoding.EncodeToString([]byte(m[2]+"|"+session))
	writeQuery(w, req, stsNamespace, stsAssumeRole{
		Credentials: stsCredentials{
			AccessKeyID:     AccessKeyFor(target.ID),
			SecretAccessKey: "sim-secret-" + target.ID,
			SessionToken:    token,
			Expiration:      isoTime(time.Now().Add(time.Duration(duration) * time.Second)),
		},
		AssumedRoleUser: stsAssumedRoleUser{
			Arn:           "arn:aws:sts::" + target.ID + ":assumed-role/" + role + "/" + session,
			AssumedRoleID: "AROASIM" + target.ID + ":" + session,
		},
	})
}

type stsAssumeRole struct {
	Credentials     stsCredentials
	AssumedRoleUser stsAssumedRoleUser
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type stsAssumedRoleUser struct {
	Arn           string
	AssumedRoleID string `xml:"AssumedRoleId"`
}

// parseSession reads the role and session name back out of a session token
// AssumeRole handed out.
func parseSession(token string) (role, session string, ok bool) {
	enc, ok := strings.CutPrefix(token, sessionPrefix)
	if !ok {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), "|")
}
