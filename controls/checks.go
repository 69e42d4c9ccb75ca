package controls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Kind separates sovereignty evidence (where data and keys live) from
// functional security controls, so that neither hides the other.
type Kind string

// The kinds of check.
const (
	Functional  Kind = "functional"
	Sovereignty Kind = "sovereignty"
)

// Check is one automated check and the EUCS requirements it evidences.
type Check struct {
	ID       string `yaml:"id" json:"id"`
	Provider string `yaml:"-" json:"provider"`
	Service  string `yaml:"service" json:"service"`
	Kind     Kind   `yaml:"kind" json:"kind"`
	// Summary says in our own words what the check verifies.
	Summary      string   `yaml:"summary" json:"summary"`
	Requirements []string `yaml:"requirements" json:"requirements"`
}

type checkFile struct {
	Provider string  `yaml:"provider"`
	Checks   []Check `yaml:"checks"`
}

// Set is the catalogue together with the check mapping.
type Set struct {
	Catalog *Catalog
	checks  map[string]*Check
	order   []string
	// byReq lists, per requirement ID, the checks that evidence it.
	byReq map[string][]string
}

// Load reads the embedded catalogue and check mapping and validates one
// against the other.
func Load() (*Set, error) {
	cat, err := LoadCatalog()
	if err != nil {
		return nil, err
	}
	return LoadChecks(cat, checksFS, "checks")
}

var (
	checkIDRe = regexp.MustCompile(`^[a-z0-9]+\.[a-z0-9_]+\.[a-z0-9_]+$`)
	serviceRe = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// LoadChecks reads every *.yaml file in dir of fsys as check mapping data
// and validates it against cat. All problems are reported at once, each
// named by file and YAML path.
func LoadChecks(cat *Catalog, fsys fs.FS, dir string) (*Set, error) {
	s := &Set{Catalog: cat, checks: map[string]*Check{}, byReq: map[string][]string{}}
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list check files: %w", err)
	}
	sort.Strings(names)
	var errs []error
	where := map[string]string{}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		var f checkFile
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if f.Provider == "" || !serviceRe.MatchString(f.Provider) {
			errs = append(errs, fmt.Errorf("%s: provider: %q is not a provider name", name, f.Provider))
		}
		for i := range f.Checks {
			c := &f.Checks[i]
			c.Provider = f.Provider
			p := fmt.Sprintf("%s: checks[%d]", name, i)
			if !checkIDRe.MatchString(c.ID) {
				errs = append(errs, fmt.Errorf("%s.id: %q is not of the form provider.service.name", p, c.ID))
			} else if pre := c.ID[:len(f.Provider)+1]; len(c.ID) <= len(f.Provider) || pre != f.Provider+"." {
				errs = append(errs, fmt.Errorf("%s.id: %q does not start with the file's provider %q", p, c.ID, f.Provider))
			}
			if prev, dup := where[c.ID]; dup {
				errs = append(errs, fmt.Errorf("%s.id: %q is already defined at %s", p, c.ID, prev))
			}
			where[c.ID] = p
			if !serviceRe.MatchString(c.Service) {
				errs = append(errs, fmt.Errorf("%s.service: %q is not a service name", p, c.Service))
			}
			if c.Kind != Functional && c.Kind != Sovereignty {
				errs = append(errs, fmt.Errorf("%s.kind: %q is not one of functional, sovereignty", p, c.Kind))
			}
			if c.Summary == "" {
				errs = append(errs, fmt.Errorf("%s.summary: is empty", p))
			}
			if len(c.Requirements) == 0 {
				errs = append(errs, fmt.Errorf("%s.requirements: a check must evidence at least one requirement", p))
			}
			for j, id := range c.Requirements {
				rp := fmt.Sprintf("%s.requirements[%d]", p, j)
				req, ok := cat.Requirement(id)
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("%s: unknown EUCS requirement %q", rp, id))
				case req.ID != id:
					errs = append(errs, fmt.Errorf("%s: %q is the source's spelling; use the catalogue ID %q", rp, id, req.ID))
				case slices.Contains(c.Requirements[:j], id):
					errs = append(errs, fmt.Errorf("%s: %q is listed twice", rp, id))
				}
			}
			s.checks[c.ID] = c
			s.order = append(s.order, c.ID)
			for _, id := range c.Requirements {
				s.byReq[id] = append(s.byReq[id], c.ID)
			}
		}
	}
	if len(names) == 0 {
		errs = append(errs, fmt.Errorf("no check files in %s", dir))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid check catalogue:\n%w", err)
	}
	sort.Strings(s.order)
	for id := range s.byReq {
		s.byReq[id] = sortedCopy(s.byReq[id])
	}
	return s, nil
}

// Check returns the check with the given ID.
func (s *Set) Check(id string) (*Check, bool) {
	c, ok := s.checks[id]
	return c, ok
}

// Checks returns every check, sorted by ID.
func (s *Set) Checks() []*Check {
	out := make([]*Check, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.checks[id])
	}
	return out
}

// ChecksFor returns the IDs of the checks that evidence requirement id,
// sorted.
func (s *Set) ChecksFor(id string) []string { return s.byReq[id] }

// Providers returns, for requirement id, the providers whose checks evidence
// it, sorted.
func (s *Set) Providers(id string) []string {
	var out []string
	for _, c := range s.byReq[id] {
		if p := s.checks[c].Provider; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
