package gcpsim

import (
	"net/http"
	"slices"
	"strings"
	"time"

	iamadmin "google.golang.org/api/iam/v1"
)

// listServiceAccounts answers iam.projects.serviceAccounts.list.
func (s *Server) listServiceAccounts(w http.ResponseWriter, c *call) {
	accts := c.Project.ServiceAccounts
	pg, ok := pageOf(w, c, len(accts), "pageSize", 20, 100)
	if !ok {
		return
	}
	out := &iamadmin.ListServiceAccountsResponse{NextPageToken: pg.next}
	for i, a := range accts[pg.start:pg.end] {
		out.Accounts = append(out.Accounts, &iamadmin.ServiceAccount{
			Name:           "projects/" + c.ProjectID + "/serviceAccounts/" + a.Email,
			ProjectId:      c.ProjectID,
			UniqueId:       uniqueID(c.Project, pg.start+i),
			Oauth2ClientId: uniqueID(c.Project, pg.start+i),
			Email:          a.Email,
			DisplayName:    strings.SplitN(a.Email, "@", 2)[0],
			Etag:           "MDEwMjE5MjA=",
			Disabled:       a.Disabled,
		})
	}
	writeJSON(w, out)
}

// uniqueID is the 21-digit numeric ID IAM gives a service account.
func uniqueID(p *Project, i int) string {
	id := "1" + formatNumber(p.Number) + formatNumber(int64(1000000+i))
	for len(id) < 21 {
		id += "0"
	}
	return id[:21]
}

// listServiceAccountKeys answers iam.projects.serviceAccounts.keys.list.
// The keyTypes filter is honoured as IAM does: repeated, and no filter
// lists keys of both types. The resource may name the account by email or
// with "-" for the project; an unknown account is 404 NOT_FOUND.
func (s *Server) listServiceAccountKeys(w http.ResponseWriter, c *call) {
	email := c.Args[0]
	i := slices.IndexFunc(c.Project.ServiceAccounts, func(a ServiceAccount) bool { return a.Email == email })
	if i < 0 {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "notFound", "Service account "+email+" does not exist.")
		return
	}
	types := c.r.URL.Query()["keyTypes"]
	out := &iamadmin.ListServiceAccountKeysResponse{Keys: []*iamadmin.ServiceAccountKey{}}
	for _, k := range c.Project.ServiceAccounts[i].Keys {
		typ, origin := "USER_MANAGED", "GOOGLE_PROVIDED"
		valid := k.Created.Add(100 * 365 * 24 * time.Hour)
		if k.SystemManaged {
			typ = "SYSTEM_MANAGED"
			valid = k.Created.Add(2 * 365 * 24 * time.Hour)
		}
		if len(types) > 0 && !slices.Contains(types, typ) {
			continue
		}
		key := &iamadmin.ServiceAccountKey{
			Name:            "projects/" + c.ProjectID + "/serviceAccounts/" + email + "/keys/" + k.ID,
			ValidAfterTime:  k.Created.UTC().Format(time.RFC3339),
			ValidBeforeTime: valid.UTC().Format(time.RFC3339),
			KeyAlgorithm:    "KEY_ALG_RSA_2048",
			KeyOrigin:       origin,
			KeyType:         typ,
			Disabled:        k.Disabled,
		}
		if k.Disabled {
			key.DisableReason = "SERVICE_ACCOUNT_KEY_DISABLE_REASON_USER_INITIATED"
		}
		out.Keys = append(out.Keys, key)
	}
	writeJSON(w, out)
}
