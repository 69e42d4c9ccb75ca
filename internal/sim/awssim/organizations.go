package awssim

import (
	"net/http"
	"strconv"
)

// The simulated organization: the estate's first account is the
// management account, the only one that may call Organizations; accounts
// and OUs sit under OrgRootID or an OU of Estate.OrgUnits.

const orgID = "o-sim0000000"

// orgPageMax is the most items one Organizations listing page holds (and
// the page size when the caller asks for none).
const orgPageMax = 20

// serveOrganizations answers ListAccounts, ListAccountsForParent and
// ListOrganizationalUnitsForParent in the AWS JSON 1.1 protocol.
func (s *Server) serveOrganizations(w http.ResponseWriter, r *http.Request, req *request) {
	mgmt := s.estate.Accounts[0]
	if req.Account != mgmt {
		writeError(w, req, APIError{Status: 400, Code: "AccessDeniedException",
			Message: "You don't have permissions to access this resource."})
		return
	}
	var in struct {
		MaxResults *int
		NextToken  string
		ParentID   string `json:"ParentId"`
	}
	if !decodeJSON(w, req, &in) {
		return
	}
	size := orgPageMax
	if in.MaxResults != nil {
		size = *in.MaxResults
		if size < 1 || size > orgPageMax {
			writeError(w, req, APIError{Status: 400, Code: "InvalidInputException", Message: "MaxResults must be from 1 to 20"})
			return
		}
	}
	switch req.Action {
	case "ListAccounts":
		s.orgAccounts(w, req, s.estate.Accounts, in.NextToken, size)
	case "ListAccountsForParent":
		if !s.orgParentExists(w, req, in.ParentID) {
			return
		}
		var under []*Account
		for _, a := range s.estate.Accounts {
			if orgParent(a.Parent) == in.ParentID {
				under = append(under, a)
			}
		}
		s.orgAccounts(w, req, under, in.NextToken, size)
	case "ListOrganizationalUnitsForParent":
		if !s.orgParentExists(w, req, in.ParentID) {
			return
		}
		var under []OrgUnit
		for _, ou := range s.estate.OrgUnits {
			if orgParent(ou.Parent) == in.ParentID {
				under = append(under, ou)
			}
		}
		start, end, next, ok := orgPage(w, req, len(under), in.NextToken, size)
		if !ok {
			return
		}
		out := struct {
			OrganizationalUnits []map[string]string
			NextToken           string `json:",omitempty"`
		}{OrganizationalUnits: []map[string]string{}, NextToken: next}
		for _, ou := range under[start:end] {
			out.OrganizationalUnits = append(out.OrganizationalUnits, map[string]string{
				"Id": ou.ID, "Name": ou.Name, "Arn": "arn:aws:organizations::" + mgmt.ID + ":ou/" + orgID + "/" + ou.ID})
		}
		writeJSON(w, jsonContentType, out)
	default:
		writeError(w, req, unknownAction(req))
	}
}

// orgAccounts writes one page of accounts.
func (s *Server) orgAccounts(w http.ResponseWriter, req *request, accts []*Account, token string, size int) {
	start, end, next, ok := orgPage(w, req, len(accts), token, size)
	if !ok {
		return
	}
	out := struct {
		Accounts  []map[string]any
		NextToken string `json:",omitempty"`
	}{Accounts: []map[string]any{}, NextToken: next}
	for _, a := range accts[start:end] {
		status, name := a.Status, a.Name
		if status == "" {
			status = "ACTIVE"
		}
		if name == "" {
			name = "account-" + a.ID
		}
		out.Accounts = append(out.Accounts, map[string]any{
			"Id": a.ID, "Name": name, "Status": status, "Email": "aws+" + a.ID + "@example.com",
			"Arn":          "arn:aws:organizations::" + s.estate.Accounts[0].ID + ":account/" + orgID + "/" + a.ID,
			"JoinedMethod": "CREATED", "JoinedTimestamp": 1.7e9,
		})
	}
	writeJSON(w, jsonContentType, out)
}

// orgParentExists answers ParentNotFoundException for an unknown parent.
func (s *Server) orgParentExists(w http.ResponseWriter, req *request, id string) bool {
	if id == OrgRootID {
		return true
	}
	for _, ou := range s.estate.OrgUnits {
		if ou.ID == id {
			return true
		}
	}
	writeError(w, req, APIError{Status: 400, Code: "ParentNotFoundException", Message: "We can't find a root or OU with the ParentId that you specified."})
	return false
}

// orgParent is the parent ID of an account or OU whose Parent is p.
func orgParent(p string) string {
	if p == "" {
		return OrgRootID
	}
	return p
}

// orgPage is pageOf with Organizations' token error.
func orgPage(w http.ResponseWriter, req *request, n int, token string, size int) (start, end int, next string, ok bool) {
	start, end, next, err := pageOf(n, token, size)
	if err != nil {
		writeError(w, req, APIError{Status: 400, Code: "InvalidInputException", Message: "The NextToken " + strconv.Quote(token) + " is not valid."})
		return 0, 0, "", false
	}
	return start, end, next, true
}
