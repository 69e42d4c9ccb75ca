package gcp

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// place is where a resource keeps its data, in GCP's terms.
type place struct {
	// name is the lower-case location: a region (europe-west1), a
	// multi-region or dual-region (eu, europe, eur4) or global.
	name string
	// regions are the regions the data is placed in when the API names
	// them (configurable dual-region buckets); empty otherwise.
	regions []string
}

// placeAt is the place of a resource the API gives one location for. A
// zone is placed in its region.
func placeAt(location string) place {
	l := strings.ToLower(location)
	if r, ok := zoneRegion(l); ok {
		l = r
	}
	return place{name: l}
}

func (p place) String() string {
	if len(p.regions) == 0 {
		return p.name
	}
	return fmt.Sprintf("%s (%s)", p.name, strings.Join(p.regions, ", "))
}

// zoneRe is a zone: a region and a one-letter suffix (europe-west1-b).
var zoneRe = regexp.MustCompile(`^([a-z]+(-[a-z]+)*[0-9]+)-[a-z]$`)

// zoneRegion returns the region of a zone name.
func zoneRegion(zone string) (string, bool) {
	m := zoneRe.FindStringSubmatch(zone)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// covers reports whether the configured locations cover p: p's own
// location is listed, or p names its regions and every one is listed.
// Names compare without regard to case.
func covers(locations []string, p place) bool {
	listed := func(name string) bool {
		return slices.ContainsFunc(locations, func(l string) bool { return strings.EqualFold(l, name) })
	}
	if listed(p.name) {
		return true
	}
	if len(p.regions) == 0 {
		return false
	}
	for _, r := range p.regions {
		if !listed(r) {
			return false
		}
	}
	return true
}

// inScope reports whether a resource at p is collected (see Config.Regions).
func (c *Collector) inScope(p place) bool {
	if len(c.cfg.Regions) == 1 && c.cfg.Regions[0] == allLocations {
		return true
	}
	return covers(c.cfg.Regions, p)
}

// located emits the data-location verdict for a resource at p. It does
// nothing when no allowed locations are configured.
func (s *scope) located(ctx context.Context, resource string, p place) error {
	allowed := s.c.cfg.AllowedRegions
	if len(allowed) == 0 {
		return nil
	}
	ok := covers(allowed, p)
	detail := fmt.Sprintf("resource is in %s, which the allowed locations cover", p)
	if !ok {
		detail = fmt.Sprintf("resource is in %s, outside the allowed locations %s", p, strings.Join(allowed, ", "))
	}
	observed := map[string]any{"region": p.name}
	if len(p.regions) > 0 {
		observed["data_locations"] = stringsAny(p.regions)
	}
	return s.emit(ctx, finding.Finding{Check: LocationCheck, Resource: resource, Region: p.name,
		Status: finding.StatusOf(ok), Detail: detail, Observed: observed})
}

// lastSegment is the last path segment of a Compute Engine URL such as
// https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b.
func lastSegment(url string) string {
	return url[strings.LastIndex(url, "/")+1:]
}

// stringsAny converts to the []any that Observed holds.
func stringsAny(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}
