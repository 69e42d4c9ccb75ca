package awssim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// serveGuardDuty answers ListDetectors (GET /detector) and GetDetector
// (GET /detector/{id}) in the REST-JSON protocol. It routes on the method
// and path itself rather than on req.Action, so it does not depend on how
// the dispatcher names REST operations.
func (s *Server) serveGuardDuty(w http.ResponseWriter, r *http.Request, req *request) {
	reg := req.Account.Regions[req.Region]
	// A region has at most one detector per account, as in AWS.
	var id, status string
	if reg != nil && (reg.GuardDuty || reg.GuardDutySuspended) {
		id, status = detectorID(req.Account.ID, req.Region), "DISABLED"
		if reg.GuardDuty {
			status = "ENABLED"
		}
	}
	rest, _ := strings.CutPrefix(r.URL.Path, "/detector")
	switch {
	case r.Method == http.MethodGet && (rest == "" || rest == "/"):
		size, err := formInt(r.URL.Query(), "maxResults", 50, 1, 50)
		if err != nil {
			writeError(w, req, APIError{Status: 400, Code: "BadRequestException", Message: err.Error()})
			return
		}
		var ids []string
		if id != "" {
			ids = append(ids, id)
		}
		start, end, next, err := pageOf(len(ids), r.URL.Query().Get("nextToken"), size)
		if err != nil {
			writeError(w, req, APIError{Status: 400, Code: "BadRequestException", Message: err.Error()})
			return
		}
		out := map[string]any{"detectorIds": append([]string{}, ids[start:end]...)}
		if next != "" {
			out["nextToken"] = next
		}
		writeJSON(w, "application/json", out)
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "/") && !strings.Contains(rest[1:], "/"):
		if id == "" || rest[1:] != id {
			writeError(w, req, APIError{Status: 400, Code: "BadRequestException",
				Message: "The request is rejected because the input detectorId is not owned by the current account."})
			return
		}
		writeJSON(w, "application/json", map[string]any{
			"status":                     status,
			"serviceRole":                "arn:aws:iam::" + req.Account.ID + ":role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
			"findingPublishingFrequency": "SIX_HOURS",
			"createdAt":                  "2024-01-01T00:00:00.000Z",
			"updatedAt":                  "2024-01-01T00:00:00.000Z",
		})
	default:
		writeError(w, req, APIError{Status: 404, Code: "BadRequestException",
			Message: "awssim: guardduty " + r.Method + " " + r.URL.Path + " is not simulated"})
	}
}

// detectorID is a stable, realistic-looking (32 hex digit) detector ID for
// an account's region.
func detectorID(account, region string) string {
	sum := sha256.Sum256([]byte(account + "/" + region))
	return hex.EncodeToString(sum[:16])
}
