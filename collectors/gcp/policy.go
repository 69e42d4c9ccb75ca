package gcp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	crm "google.golang.org/api/cloudresourcemanager/v3"
)

// IAM policy check IDs.
const (
	checkDataAccessAudit = "gcp.logging.data_access_audit"
	checkPrimitiveRoles  = "gcp.iam.primitive_roles"
)

// policyVersion is the IAM policy version asked for: 3 returns
// conditional bindings as they are rather than refusing the call.
const policyVersion = 3

// auditAllServices is the audit config that applies to every service.
const auditAllServices = "allServices"

// dataAccessLogTypes are the Data Access audit log types; Admin Activity
// logs are always written and cannot be configured.
func dataAccessLogTypes() []string { return []string{"ADMIN_READ", "DATA_READ", "DATA_WRITE"} }

// primitiveRoles are the basic roles that grant broad access to every
// service of a project.
func primitiveRoles() []string { return []string{"roles/owner", "roles/editor"} }

// policyScanner checks the project's effective IAM policy: Data Access
// audit logs for all services, and no basic owner or editor role held by a
// user account.
func policyScanner() scanner {
	return scanner{
		service: "cloudresourcemanager",
		area:    "iam_policy",
		checks:  []string{checkDataAccessAudit, checkPrimitiveRoles},
		scan:    scanPolicy,
	}
}

// levelPolicy is the IAM policy set on one level of the hierarchy.
type levelPolicy struct {
	name   string // projects/P, folders/F or organizations/O
	policy *crm.Policy
}

// scanPolicy reads the policy of the project and of each folder and
// organisation above it. Audit configs and role bindings are inherited
// down the hierarchy, so a project's effective policy is the union of
// them all; judging the project's own policy alone would fail projects
// whose organisation turns the logs on.
func scanPolicy(ctx context.Context, s *scope) error {
	name := "projects/" + s.project
	own, err := getPolicy(ctx, s.c.api.crm, name)
	if err != nil {
		return fmt.Errorf("get IAM policy of project %s: %w", s.project, err)
	}
	levels := []levelPolicy{{name: name, policy: own}}
	ancestors, ancErr := s.run.ancestors(ctx, s.c.api.crm, s.project)
	levels = append(levels, ancestors...)
	res := "//cloudresourcemanager.googleapis.com/" + name
	if err := judgeAudit(ctx, s, res, levels, ancErr); err != nil {
		return err
	}
	return judgePrimitiveRoles(ctx, s, res, levels, ancErr)
}

// getPolicy reads the IAM policy of a project, folder or organisation.
func getPolicy(ctx context.Context, api *crm.Service, name string) (*crm.Policy, error) {
	req := &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: policyVersion}}
	switch {
	case strings.HasPrefix(name, "folders/"):
		return api.Folders.GetIamPolicy(name, req).Context(ctx).Do()
	case strings.HasPrefix(name, "organizations/"):
		return api.Organizations.GetIamPolicy(name, req).Context(ctx).Do()
	}
	return api.Projects.GetIamPolicy(name, req).Context(ctx).Do()
}

// judgeAudit decides data_access_audit. The effective configuration is
// the union over the levels of every allServices audit config: each log
// type is on when any level turns it on, and a member exempted anywhere is
// exempted. When an ancestor's policy cannot be read, the verdict is a
// fail only if the readable levels already exempt someone, since an
// ancestor can add log types but never remove an exemption.
func judgeAudit(ctx context.Context, s *scope, res string, levels []levelPolicy, ancErr error) error {
	on := map[string]bool{}
	var exempted, configuredOn []string
	for _, l := range levels {
		for _, ac := range l.policy.AuditConfigs {
			if ac.Service != auditAllServices {
				continue
			}
			configuredOn = append(configuredOn, l.name)
			for _, lc := range ac.AuditLogConfigs {
				on[lc.LogType] = true
				for _, m := range lc.ExemptedMembers {
					exempted = append(exempted, lc.LogType+" "+m)
				}
			}
		}
	}
	var missing, types []string
	for _, t := range dataAccessLogTypes() {
		if on[t] {
			types = append(types, t)
		} else {
			missing = append(missing, t)
		}
	}
	slices.Sort(exempted)
	observed := map[string]any{
		"log_types":        stringsAny(types),
		"exempted_members": stringsAny(slices.Compact(exempted)),
		"configured_on":    stringsAny(slices.Compact(configuredOn)),
	}
	ok := len(missing) == 0 && len(exempted) == 0
	var detail string
	switch {
	case len(exempted) > 0:
		detail = fmt.Sprintf("Data Access audit logs exempt %d members", len(slices.Compact(exempted)))
	case ancErr != nil:
		return s.notAssessed(ctx, checkDataAccessAudit, res, "",
			fmt.Errorf("audit configuration inherited from above the project is unknown: %w", ancErr))
	case !ok:
		detail = "Data Access audit logs are not on for all services: missing " + strings.Join(missing, ", ")
	default:
		detail = "Data Access audit logs (ADMIN_READ, DATA_READ, DATA_WRITE) are on for all services, with no exemptions"
	}
	return s.verdict(ctx, checkDataAccessAudit, res, "", ok, detail, observed)
}

// judgePrimitiveRoles decides primitive_roles: no user account holds the
// owner or editor basic role on the project or above it. Groups and service
// accounts are left to other reviews. When an ancestor's policy cannot be
// read, only a fail is certain.
func judgePrimitiveRoles(ctx context.Context, s *scope, res string, levels []levelPolicy, ancErr error) error {
	grants := []any{}
	for _, l := range levels {
		for _, b := range l.policy.Bindings {
			if !slices.Contains(primitiveRoles(), b.Role) {
				continue
			}
			for _, m := range b.Members {
				if strings.HasPrefix(m, "user:") {
					grants = append(grants, map[string]any{"member": m, "role": b.Role, "granted_on": l.name})
				}
			}
		}
	}
	if len(grants) > 0 {
		return s.verdict(ctx, checkPrimitiveRoles, res, "", false,
			fmt.Sprintf("%d grants of a basic owner or editor role to user accounts", len(grants)), map[string]any{"grants": grants})
	}
	if ancErr != nil {
		return s.notAssessed(ctx, checkPrimitiveRoles, res, "",
			fmt.Errorf("roles inherited from above the project are unknown: %w", ancErr))
	}
	return s.verdict(ctx, checkPrimitiveRoles, res, "", true,
		"no user account holds a basic owner or editor role on the project or above it", map[string]any{"grants": grants})
}

// ancestorPolicy is one folder's or organisation's policy and parent, read
// once per run however many projects sit under it.
type ancestorPolicy struct {
	once   sync.Once
	parent string
	policy *crm.Policy
	err    error
}

// ancestors returns the policies of the folders and organisation above the
// project, nearest first. It stops at the first level it cannot read and
// returns what it has with the error.
func (r *runState) ancestors(ctx context.Context, api *crm.Service, project string) ([]levelPolicy, error) {
	p, err := api.Projects.Get("projects/" + project).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("get parent of project %s: %w", project, err)
	}
	var out []levelPolicy
	for parent := p.Parent; parent != ""; {
		a := r.ancestor(api, parent)
		if a.err != nil {
			return out, a.err
		}
		out = append(out, levelPolicy{name: parent, policy: a.policy})
		if len(out) > maxDepth {
			return out, errors.New("the hierarchy is deeper than Resource Manager allows: it has a cycle")
		}
		parent = a.parent
	}
	return out, nil
}

// maxDepth bounds the walk up the hierarchy: folders nest at most ten deep
// under one organisation.
const maxDepth = 12

// ancestor reads one folder's or organisation's parent and policy, once
// per run, under the run's context rather than the asking scope's.
func (r *runState) ancestor(api *crm.Service, name string) *ancestorPolicy {
	r.mu.Lock()
	a, ok := r.policies[name]
	if !ok {
		a = &ancestorPolicy{}
		r.policies[name] = a
	}
	r.mu.Unlock()
	a.once.Do(func() {
		ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
		defer cancel()
		if strings.HasPrefix(name, "folders/") {
			f, err := api.Folders.Get(name).Context(ctx).Do()
			if err != nil {
				a.err = fmt.Errorf("get parent of %s: %w", name, err)
				return
			}
			a.parent = f.Parent
		}
		a.policy, a.err = getPolicy(ctx, api, name)
		if a.err != nil {
			a.err = fmt.Errorf("get IAM policy of %s: %w", name, a.err)
		}
	})
	return a
}
