package gcp

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/trace"
	crm "google.golang.org/api/cloudresourcemanager/v3"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// discoveryPageSize is how many projects or folders one Resource Manager
// listing page asks for.
const discoveryPageSize = 500

// stateActive is the Resource Manager state of a live project or folder.
const stateActive = "ACTIVE"

// discover walks the folder tree under root (organizations/N or folders/N)
// and hands every active project's ID to found. span is the discovery's,
// told of each parent that cannot be listed. Resource Manager lists
// only the direct children of a parent, so each folder is listed in turn;
// excluded folders (exclude_folders) are not.
//
// A parent that cannot be listed does not stop the walk: its projects
// cannot be named, so every check is reported not assessed under the
// parent's name as account, and the walk goes on with the other parents.
// Every replica walks the whole tree to find its projects, but only the
// replica whose shard owns the parent's name reports it, so that it is
// reported once. It returns an error only when the sink fails; when ctx
// ends it stops.
func (c *Collector) discover(ctx context.Context, span trace.Span, sink finding.Sink, root string, found func(project string)) error {
	queue := []string{root}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		folders, err := c.listChildren(ctx, parent, found)
		if ctx.Err() != nil {
			// The run is over; Collect reports why.
			return nil
		}
		if err != nil {
			parentNotListed(span, parent, err)
			if !c.cfg.Shard.Owns(parent) {
				c.log.Debug("projects not discovered; another shard reports it", "parent", parent, "error", err)
			} else if err := c.parentNotAssessed(ctx, sink, parent, err); err != nil {
				return err
			}
		}
		for _, f := range folders {
			if c.cfg.folderExcluded(f) {
				c.log.Debug("folder excluded", "folder", f)
				continue
			}
			queue = append(queue, f)
		}
	}
	return nil
}

// listChildren hands the active projects directly under parent to found
// and returns its active folders, each listing under the scope timeout.
func (c *Collector) listChildren(ctx context.Context, parent string, found func(string)) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	err := c.api.crm.Projects.List().Parent(parent).PageSize(discoveryPageSize).Pages(lctx, func(page *crm.ListProjectsResponse) error {
		for _, p := range page.Projects {
			if p.State == stateActive {
				found(p.ProjectId)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list projects under %s: %w", parent, err)
	}
	var folders []string
	err = c.api.crm.Folders.List().Parent(parent).PageSize(discoveryPageSize).Pages(lctx, func(page *crm.ListFoldersResponse) error {
		for _, f := range page.Folders {
			if f.State == stateActive {
				folders = append(folders, f.Name)
			}
		}
		return nil
	})
	if err != nil {
		return folders, fmt.Errorf("list folders under %s: %w", parent, err)
	}
	return folders, nil
}

// parentNotAssessed reports a folder or organisation whose projects could
// not be listed: every check of every scanner is not assessed, with the
// parent's resource name as account since no project can be named.
func (c *Collector) parentNotAssessed(ctx context.Context, sink finding.Sink, parent string, cause error) error {
	reason := classify(cause)
	c.log.Warn("projects not discovered", "parent", parent, "reason", reason, "error", cause)
	s := &scope{c: c, sink: sink, project: parent, service: "cloudresourcemanager"}
	detail := redact(finding.ErrorDetail(cause))
	for _, check := range Checks() {
		if check == LocationCheck && len(c.cfg.AllowedRegions) == 0 {
			continue
		}
		if err := s.emit(ctx, finding.Finding{Check: check, Resource: "*", Status: finding.NotAssessed, Reason: reason, Detail: detail}); err != nil {
			return err
		}
	}
	if err := sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: parent, Region: GlobalRegion,
		Service: "cloudresourcemanager", Status: finding.NotCovered, Reason: reason, Detail: detail}); err != nil {
		return fmt.Errorf("keep coverage: %w", err)
	}
	return nil
}
