package controls

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

func TestCatalogHoldsAnnexAWithUniqueIDs(t *testing.T) {
	c, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Categories); got != 20 {
		t.Errorf("categories: got %d, want 20", got)
	}
	controls, seen := 0, map[string]bool{}
	for _, cat := range c.Categories {
		for _, ctl := range cat.Controls {
			controls++
			if seen[ctl.ID] {
				t.Errorf("control %s appears twice after normalisation", ctl.ID)
			}
			seen[ctl.ID] = true
			for _, r := range ctl.Requirements {
				if !strings.HasPrefix(r.ID, ctl.ID+".") {
					t.Errorf("requirement %s stands under control %s", r.ID, ctl.ID)
				}
			}
		}
	}
	if controls != 120 {
		t.Errorf("controls: got %d, want 120", controls)
	}
	if got := len(c.Requirements()); got != 529 {
		t.Errorf("requirements: got %d, want 529", got)
	}
	ids := map[string]bool{}
	for _, r := range c.Requirements() {
		if ids[r.ID] {
			t.Errorf("requirement %s is not unique", r.ID)
		}
		ids[r.ID] = true
	}
}

func TestCatalogNormalisesTheSourceAnomalies(t *testing.T) {
	c, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lookup, wantID, wantSource, wantControl string
	}{
		{"OSI-01.4", "OIS-01.4", "OSI-01.4", "OIS-01"},
		{"OIS-01.4", "OIS-01.4", "OSI-01.4", "OIS-01"},
		{"COM-02.5", "CCM-02.5", "COM-02.5", "CCM-02"},
		{"OPS-12.5", "OPS-13.5", "OPS-12.5", "OPS-13"},
		{"OPS-13.5", "OPS-13.5", "OPS-12.5", "OPS-13"},
		{"OPS-22.1", "OPS-22.1", "OPS-21.1", "OPS-22"},
		{"OPS-21.1", "OPS-21.1", "", "OPS-21"},
		{"DEV-03.1", "DEV-03.1", "", "DEV-03"},
		{"PS-04.4b", "PS-04.4b", "PS-04.4", "PS-04"},
		{"OPS-19.2b", "OPS-19.2b", "OPS-19.2", "OPS-19"},
		{"CS-03.2b", "CS-03.2b", "CS-03.2", "CS-03"},
	}
	for _, tt := range tests {
		r, ok := c.Requirement(tt.lookup)
		if !ok {
			t.Errorf("Requirement(%q): not found", tt.lookup)
			continue
		}
		got := [3]string{r.ID, r.SourceID, r.Control}
		want := [3]string{tt.wantID, tt.wantSource, tt.wantControl}
		if got != want {
			t.Errorf("Requirement(%q) = %v, want %v", tt.lookup, got, want)
		}
	}
	dev3, ok := c.Control("DEV-03")
	if !ok || dev3.SourceID != "DEV-02" || dev3.Title != "SECURE DEVELOPMENT ENVIRONMENT" {
		t.Errorf("second DEV-02 not renamed to DEV-03: %+v", dev3)
	}
}

func TestLevelApplicability(t *testing.T) {
	tests := []struct {
		req, target Level
		want        bool
	}{
		{Basic, Basic, true}, {Basic, Substantial, true}, {Basic, High, true},
		{Substantial, Basic, false}, {Substantial, Substantial, true}, {Substantial, High, true},
		{High, Basic, false}, {High, Substantial, false}, {High, High, true},
	}
	for _, tt := range tests {
		if got := tt.req.AppliesAt(tt.target); got != tt.want {
			t.Errorf("%s.AppliesAt(%s) = %v, want %v", tt.req, tt.target, got, tt.want)
		}
	}
	if _, err := ParseLevel("HIGH"); err != nil {
		t.Errorf("ParseLevel(HIGH): %v", err)
	}
	if _, err := ParseLevel("medium"); err == nil || err.Error() != `level "medium" is not one of basic, substantial, high` {
		t.Errorf("ParseLevel(medium) error = %v", err)
	}
}

func TestEmbeddedCheckCatalogueLoads(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.Check("aws.s3.default_encryption")
	if !ok || c.Provider != "aws" || len(c.Requirements) == 0 {
		t.Fatalf("aws.s3.default_encryption: %+v", c)
	}
	if got := s.ChecksFor("CKM-03.1"); len(got) == 0 {
		t.Error("no check evidences CKM-03.1")
	}
	for _, c := range s.Checks() {
		if c.Kind == Sovereignty && !strings.Contains(c.ID, "location") {
			t.Errorf("sovereignty check %s is not a location check", c.ID)
		}
	}
}

func TestInvalidCheckCataloguesNameTheProblem(t *testing.T) {
	cat, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir  string
		want string
	}{
		{"unknown-requirement", `invalid check catalogue:
unknown-requirement/x.yaml: checks[0].requirements[1]: unknown EUCS requirement "CKM-09.1"`},
		{"alias-requirement", `invalid check catalogue:
alias-requirement/x.yaml: checks[0].requirements[0]: "OSI-01.4" is the source's spelling; use the catalogue ID "OIS-01.4"`},
		{"bad-fields", `invalid check catalogue:
bad-fields/x.yaml: checks[0].id: "gcp.storage.thing" does not start with the file's provider "aws"
bad-fields/x.yaml: checks[0].service: "Storage" is not a service name
bad-fields/x.yaml: checks[0].kind: "physical" is not one of functional, sovereignty
bad-fields/x.yaml: checks[0].summary: is empty
bad-fields/x.yaml: checks[0].requirements: a check must evidence at least one requirement`},
		{"unknown-field", `invalid check catalogue:
unknown-field/x.yaml: yaml: unmarshal errors:
  line 6: field sumary not found in type controls.Check`},
		{"duplicate-id", `invalid check catalogue:
duplicate-id/a.yaml: checks[0].requirements[1]: "OPS-09.1" is listed twice
duplicate-id/a.yaml: checks[1].id: "aws.s3.versioning" is already defined at duplicate-id/a.yaml: checks[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			_, err := LoadChecks(cat, os.DirFS("testdata"), tt.dir)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

type nullSink struct{ n int }

func (s *nullSink) Finding(context.Context, finding.Finding) error   { s.n++; return nil }
func (s *nullSink) Coverage(context.Context, finding.Coverage) error { return nil }

func TestRollupAtTargetLevel(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	f := func(check string, st finding.Status) finding.Finding {
		f := finding.Finding{Check: check, Provider: "aws", Account: "111111111111", Resource: "r", Status: st}
		if st == finding.NotAssessed {
			f.Reason = finding.AccessDenied
		}
		return f
	}
	tally := s.NewTally(Substantial)
	next := &nullSink{}
	m := s.NewMapper(tally, next)
	ctx := context.Background()
	for _, in := range []finding.Finding{
		f("aws.s3.default_encryption", finding.Pass),     // CKM-03.1, CKM-03.2
		f("aws.rds.storage_encrypted", finding.Fail),     // CKM-03.1, CKM-03.2
		f("aws.s3.tls_only_policy", finding.Pass),        // CKM-02.1, CKM-02.2 (High)
		f("aws.iam.root_mfa", finding.NotAssessed),       // IAM-06.4, IAM-07.1
		f("aws.iam.user_mfa", finding.Pass),              // IAM-07.1, IAM-07.2
		f("aws.kms.key_rotation", finding.NotApplicable), // CKM-04.2, CKM-04.4
	} {
		if err := m.Finding(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if next.n != 6 {
		t.Errorf("forwarded %d findings, want 6", next.n)
	}
	got := map[string]RequirementStatus{}
	for _, r := range tally.Results() {
		got[r.ID] = r.Status
		if r.Level == High {
			t.Errorf("%s is High but the target is Substantial", r.ID)
		}
	}
	want := map[string]RequirementStatus{
		"CKM-03.1": NotSatisfied,
		"CKM-02.1": Satisfied,
		"IAM-07.1": NotAssessedReq, // one pass, one not assessed
		"IAM-07.2": Satisfied,
		"CKM-04.2": Satisfied,      // only not-applicable findings
		"OPS-05.1": NotAssessedReq, // mapped, but no finding this run
		"OIS-01.1": Manual,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: got %q, want %q", id, got[id], w)
		}
	}
	if _, ok := got["CKM-02.2"]; ok {
		t.Error("CKM-02.2 (High) rolled up at Substantial")
	}
}

func TestMapperRejectsUnmappedAndInvalidFindings(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	m := s.NewMapper(s.NewTally(High), &nullSink{})
	err = m.Finding(context.Background(), finding.Finding{Check: "aws.s3.nope", Provider: "aws", Account: "1", Status: finding.Pass})
	if err == nil || err.Error() != "check aws.s3.nope is not in the check catalogue (controls/checks/*.yaml)" {
		t.Errorf("unmapped: %v", err)
	}
	err = m.Finding(context.Background(), finding.Finding{Check: "aws.s3.versioning", Provider: "aws", Account: "1", Resource: "b", Status: finding.NotAssessed})
	if err == nil || !strings.Contains(err.Error(), `status not_assessed needs a reason, got ""`) {
		t.Errorf("not assessed without reason: %v", err)
	}
}
