// Package controls holds the EUCS catalogue (categories, controls and the 529
// requirements of Annex A with their assurance levels), the data that maps
// each automated check to the requirements it evidences, and the roll-up of a
// run's findings into per-requirement results.
//
// Both the catalogue and the check mapping are embedded and validated at
// load: an unknown requirement ID in the mapping is a load error, never a
// silent miss.
package controls

import (
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"strings"
)

//go:embed data/annex-a.json
var annexA []byte

// Level is an EUCS assurance level.
type Level string

// The three assurance levels, lowest first.
const (
	Basic       Level = "basic"
	Substantial Level = "substantial"
	High        Level = "high"
)

func (l Level) rank() int {
	switch l {
	case Basic:
		return 1
	case Substantial:
		return 2
	case High:
		return 3
	}
	return 0
}

// Valid reports whether l is one of the three levels.
func (l Level) Valid() bool { return l.rank() > 0 }

// AppliesAt reports whether a requirement of level l applies to a service
// certified at target: Basic requirements apply at every level, Substantial
// ones at Substantial and High, High ones at High only.
func (l Level) AppliesAt(target Level) bool { return l.rank() > 0 && l.rank() <= target.rank() }

// ParseLevel accepts a level name in any case.
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToLower(strings.TrimSpace(s)))
	if !l.Valid() {
		return "", fmt.Errorf("level %q is not one of basic, substantial, high", s)
	}
	return l, nil
}

// Category is one of the 20 EUCS categories (OIS, ISP, …).
type Category struct {
	Code     string
	Title    string
	Controls []*Control
}

// Control is one EUCS control (e.g. CKM-03) and its requirements.
type Control struct {
	ID string
	// SourceID is the control's ID as the source prints it, when the
	// catalogue normalised it (the second DEV-02 is DEV-03).
	SourceID     string
	Title        string
	Category     string
	Requirements []*Requirement
}

// Requirement is one EUCS requirement (e.g. CKM-03.1).
type Requirement struct {
	ID string
	// SourceID is the ID as the source prints it, when the catalogue
	// normalised a known anomaly of the source (OSI-01.4 is OIS-01.4).
	SourceID string
	Level    Level
	Control  string
	Category string
}

// Catalog is the EUCS catalogue with normalised, unique IDs.
type Catalog struct {
	Source     string
	Categories []*Category
	reqs       []*Requirement
	byID       map[string]*Requirement
	// aliases maps a source ID that was renamed to its normalised ID, when
	// the source ID is not itself a normalised ID.
	aliases map[string]string
}

type rawCatalog struct {
	Source     string `json:"source"`
	Categories []struct {
		Code     string `json:"code"`
		Title    string `json:"title"`
		Controls []struct {
			ID           string `json:"id"`
			Title        string `json:"title"`
			Requirements []struct {
				ID    string `json:"id"`
				Level string `json:"level"`
			} `json:"requirements"`
		} `json:"controls"`
	} `json:"categories"`
}

var reqIDRe = regexp.MustCompile(`^([A-Z]+-[0-9]{2})\.([0-9]+)$`)

// LoadCatalog parses the embedded Annex A catalogue.
func LoadCatalog() (*Catalog, error) { return parseCatalog(annexA) }

// parseCatalog reads the catalogue and normalises the anomalies the source
// file lists, keeping each source ID as an alias:
//   - a requirement whose prefix does not match its control takes the
//     control's prefix (OSI-01.4 under OIS-01 is OIS-01.4, COM-02.5 under
//     CCM-02 is CCM-02.5, OPS-12.5 under OPS-13 is OPS-13.5, OPS-21.1 under
//     OPS-22 is OPS-22.1);
//   - a control ID used twice gets the next free number when its
//     requirements already carry it (the second DEV-02, whose requirements
//     are DEV-03.x, is DEV-03);
//   - a requirement ID that stands twice keeps it the first time and takes a
//     "b" suffix the second (PS-04.4 and PS-04.4b).
func parseCatalog(data []byte) (*Catalog, error) {
	var raw rawCatalog
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse EUCS catalogue: %w", err)
	}
	c := &Catalog{Source: raw.Source, byID: map[string]*Requirement{}, aliases: map[string]string{}}
	controls := map[string]bool{}
	for _, rc := range raw.Categories {
		cat := &Category{Code: rc.Code, Title: html.UnescapeString(rc.Title)}
		for _, rctl := range rc.Controls {
			ctl := &Control{ID: rctl.ID, Title: html.UnescapeString(rctl.Title), Category: rc.Code}
			if controls[ctl.ID] {
				// A repeated control ID: take the prefix its requirements use.
				if len(rctl.Requirements) == 0 {
					return nil, fmt.Errorf("parse EUCS catalogue: control %s repeats with no requirements to rename it by", ctl.ID)
				}
				m := reqIDRe.FindStringSubmatch(rctl.Requirements[0].ID)
				if m == nil || controls[m[1]] {
					return nil, fmt.Errorf("parse EUCS catalogue: cannot rename repeated control %s", ctl.ID)
				}
				ctl.SourceID, ctl.ID = ctl.ID, m[1]
			}
			controls[ctl.ID] = true
			for _, rr := range rctl.Requirements {
				m := reqIDRe.FindStringSubmatch(rr.ID)
				if m == nil {
					return nil, fmt.Errorf("parse EUCS catalogue: requirement ID %q under %s is malformed", rr.ID, ctl.ID)
				}
				lvl, err := ParseLevel(rr.Level)
				if err != nil {
					return nil, fmt.Errorf("parse EUCS catalogue: requirement %s: %w", rr.ID, err)
				}
				id := rr.ID
				if m[1] != ctl.ID {
					id = ctl.ID + "." + m[2]
				}
				if _, dup := c.byID[id]; dup {
					id += "b"
					if _, dup := c.byID[id]; dup {
						return nil, fmt.Errorf("parse EUCS catalogue: requirement %s stands more than twice", rr.ID)
					}
				}
				req := &Requirement{ID: id, Level: lvl, Control: ctl.ID, Category: cat.Code}
				if id != rr.ID {
					req.SourceID = rr.ID
					if _, taken := c.aliases[rr.ID]; !taken {
						c.aliases[rr.ID] = id
					}
				}
				ctl.Requirements = append(ctl.Requirements, req)
				c.byID[id] = req
				c.reqs = append(c.reqs, req)
			}
			cat.Controls = append(cat.Controls, ctl)
		}
		c.Categories = append(c.Categories, cat)
	}
	// An alias is only useful when it does not shadow a real ID.
	for src := range c.aliases {
		if _, real := c.byID[src]; real {
			delete(c.aliases, src)
		}
	}
	return c, nil
}

// Requirements returns every requirement in catalogue order.
func (c *Catalog) Requirements() []*Requirement { return c.reqs }

// Requirement looks a requirement up by its normalised ID or, failing that,
// by the source ID it was normalised from.
func (c *Catalog) Requirement(id string) (*Requirement, bool) {
	if r, ok := c.byID[id]; ok {
		return r, true
	}
	if n, ok := c.aliases[id]; ok {
		return c.byID[n], true
	}
	return nil, false
}

// Control returns the control with the given ID.
func (c *Catalog) Control(id string) (*Control, bool) {
	for _, cat := range c.Categories {
		for _, ctl := range cat.Controls {
			if ctl.ID == id {
				return ctl, true
			}
		}
	}
	return nil, false
}

// checksFS holds the check catalogue: one YAML file per provider.
//
//go:embed checks/*.yaml
var checksFS embed.FS
