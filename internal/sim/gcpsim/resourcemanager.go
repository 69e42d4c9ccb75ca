package gcpsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	crm "google.golang.org/api/cloudresourcemanager/v3"
)

// children returns the projects and folders directly under parent
// (organizations/N or folders/N), deleted ones left out as Resource
// Manager does unless showDeleted is asked for.
func (s *Server) children(parent string, showDeleted bool) ([]*Project, []*Folder) {
	var ps []*Project
	for _, p := range s.estate.Projects {
		if p.Parent == parent && (showDeleted || !p.Deleted) {
			ps = append(ps, p)
		}
	}
	var fs []*Folder
	for _, f := range s.estate.Folders {
		if f.Parent == parent && (showDeleted || !f.Deleted) {
			fs = append(fs, f)
		}
	}
	return ps, fs
}

// parentKnown reports whether parent names the organisation or a folder
// of the estate; Resource Manager answers 403 for any other.
func (s *Server) parentKnown(parent string) bool {
	if id, ok := strings.CutPrefix(parent, "organizations/"); ok {
		return id != "" && id == s.estate.Organization
	}
	if id, ok := strings.CutPrefix(parent, "folders/"); ok {
		return s.estate.Folder(id) != nil
	}
	return false
}

func crmProject(p *Project) *crm.Project {
	state := "ACTIVE"
	if p.Deleted {
		state = "DELETE_REQUESTED"
	}
	return &crm.Project{
		Name:        "projects/" + formatNumber(p.Number),
		Parent:      p.Parent,
		ProjectId:   p.ID,
		State:       state,
		DisplayName: p.ID,
		CreateTime:  "2023-11-20T10:00:00.000Z",
		Etag:        `W/"c2ltLWV0YWc="`,
	}
}

func crmFolder(f *Folder) *crm.Folder {
	state := "ACTIVE"
	if f.Deleted {
		state = "DELETE_REQUESTED"
	}
	return &crm.Folder{
		Name:        "folders/" + f.ID,
		Parent:      f.Parent,
		DisplayName: f.DisplayName,
		State:       state,
		CreateTime:  "2023-11-20T10:00:00.000Z",
		Etag:        `W/"c2ltLWV0YWc="`,
	}
}

// listProjects answers cloudresourcemanager.projects.list under ?parent=.
func (s *Server) listProjects(w http.ResponseWriter, c *call) {
	q := c.r.URL.Query()
	parent := q.Get("parent")
	if parent == "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "badRequest", "parent is required")
		return
	}
	if !s.parentKnown(parent) {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "forbidden",
			"Permission 'resourcemanager.projects.list' denied on resource '"+parent+"' (or it may not exist).")
		return
	}
	ps, _ := s.children(parent, q.Get("showDeleted") == "true")
	pg, ok := pageOf(w, c, len(ps), "pageSize", 50, 1000)
	if !ok {
		return
	}
	out := &crm.ListProjectsResponse{NextPageToken: pg.next}
	for _, p := range ps[pg.start:pg.end] {
		out.Projects = append(out.Projects, crmProject(p))
	}
	writeJSON(w, out)
}

// listFolders answers cloudresourcemanager.folders.list under ?parent=.
func (s *Server) listFolders(w http.ResponseWriter, c *call) {
	q := c.r.URL.Query()
	parent := q.Get("parent")
	if !s.parentKnown(parent) {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "forbidden",
			"Permission 'resourcemanager.folders.list' denied on resource '"+parent+"' (or it may not exist).")
		return
	}
	_, fs := s.children(parent, q.Get("showDeleted") == "true")
	pg, ok := pageOf(w, c, len(fs), "pageSize", 50, 1000)
	if !ok {
		return
	}
	out := &crm.ListFoldersResponse{NextPageToken: pg.next}
	for _, f := range fs[pg.start:pg.end] {
		out.Folders = append(out.Folders, crmFolder(f))
	}
	writeJSON(w, out)
}

// getProject answers cloudresourcemanager.projects.get by ID or number.
func (s *Server) getProject(w http.ResponseWriter, c *call) { writeJSON(w, crmProject(c.Project)) }

// getFolder answers cloudresourcemanager.folders.get.
func (s *Server) getFolder(w http.ResponseWriter, c *call) {
	f := s.estate.Folder(c.Args[0])
	if f == nil {
		writeDenied(w, c)
		return
	}
	writeJSON(w, crmFolder(f))
}

// readPolicyRequest checks the body of a getIamPolicy call, as the API
// does: JSON, with an optional requested policy version of 0, 1 or 3.
func readPolicyRequest(w http.ResponseWriter, c *call) bool {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "badRequest", "gcpsim: read body: "+err.Error())
		return false
	}
	var req crm.GetIamPolicyRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "parseError", "Invalid JSON payload received. "+err.Error())
			return false
		}
	}
	if o := req.Options; o != nil && o.RequestedPolicyVersion != 0 && o.RequestedPolicyVersion != 1 && o.RequestedPolicyVersion != 3 {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "badRequest", "Invalid requested policy version.")
		return false
	}
	return true
}

// writePolicy writes p as an IAM Policy.
func writePolicy(w http.ResponseWriter, p Policy) {
	out := &crm.Policy{Version: 1, Etag: "BwYAAAAAAAA=", Bindings: []*crm.Binding{}}
	for _, b := range p.Bindings {
		out.Bindings = append(out.Bindings, &crm.Binding{Role: b.Role, Members: b.Members})
	}
	for _, ac := range p.AuditConfigs {
		cfg := &crm.AuditConfig{Service: ac.Service}
		for _, lc := range ac.LogConfigs {
			cfg.AuditLogConfigs = append(cfg.AuditLogConfigs, &crm.AuditLogConfig{LogType: lc.LogType, ExemptedMembers: lc.ExemptedMembers})
		}
		out.AuditConfigs = append(out.AuditConfigs, cfg)
	}
	writeJSON(w, out)
}

// getProjectPolicy answers cloudresourcemanager.projects.getIamPolicy.
func (s *Server) getProjectPolicy(w http.ResponseWriter, c *call) {
	if readPolicyRequest(w, c) {
		writePolicy(w, c.Project.Policy)
	}
}

// getFolderPolicy answers cloudresourcemanager.folders.getIamPolicy.
func (s *Server) getFolderPolicy(w http.ResponseWriter, c *call) {
	f := s.estate.Folder(c.Args[0])
	if f == nil {
		writeDenied(w, c)
		return
	}
	if readPolicyRequest(w, c) {
		writePolicy(w, f.Policy)
	}
}

// getOrganizationPolicy answers
// cloudresourcemanager.organizations.getIamPolicy.
func (s *Server) getOrganizationPolicy(w http.ResponseWriter, c *call) {
	if c.Args[0] == "" || c.Args[0] != s.estate.Organization {
		writeDenied(w, c)
		return
	}
	if readPolicyRequest(w, c) {
		writePolicy(w, s.estate.OrgPolicy)
	}
}
