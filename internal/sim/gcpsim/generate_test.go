package gcpsim

import (
	"reflect"
	"strings"
	"testing"
)

func TestGenerateIsDeterministic(t *testing.T) {
	spec := Spec{Projects: 5, Regions: []string{"europe-west1", "us-central1"}, PerRegion: 4}
	a, b := Generate(7, spec), Generate(7, spec)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed and spec gave two estates")
	}
	if reflect.DeepEqual(a, Generate(8, spec)) {
		t.Error("two seeds gave the same estate")
	}
}

// parentsExist checks that every folder and project hangs off the estate's
// organisation, through folders that exist.
func parentsExist(t *testing.T, e *Estate) {
	t.Helper()
	known := func(parent string) bool {
		if id, ok := strings.CutPrefix(parent, "folders/"); ok {
			return e.Folder(id) != nil
		}
		return parent == "organizations/"+e.Organization || parent == ""
	}
	for _, f := range e.Folders {
		if !known(f.Parent) {
			t.Errorf("folder %s has unknown parent %s", f.ID, f.Parent)
		}
	}
	for _, p := range e.Projects {
		if !known(p.Parent) {
			t.Errorf("project %s has unknown parent %s", p.ID, p.Parent)
		}
	}
}

func TestGeneratedEstateIsWellFormed(t *testing.T) {
	e := Generate(42, Spec{Projects: 20, Regions: []string{"europe-west1", "europe-west3", "us-central1"}, PerRegion: 5})
	parentsExist(t, e)
	if len(e.Projects) != 20 {
		t.Fatalf("%d projects, want 20", len(e.Projects))
	}
	names := map[string]bool{}
	unique := func(kind, name string) {
		if names[kind+" "+name] {
			t.Errorf("%s %s is not unique", kind, name)
		}
		names[kind+" "+name] = true
	}
	var ok, total int
	tally := func(good bool) {
		total++
		if good {
			ok++
		}
	}
	for _, p := range e.Projects {
		unique("project", p.ID)
		if len(p.ID) < 6 || len(p.ID) > 30 {
			t.Errorf("project ID %q is not 6 to 30 characters", p.ID)
		}
		for _, b := range p.Buckets {
			unique("bucket", b.Name)
			tally(b.UniformAccess)
			tally(b.Versioning)
		}
		for _, d := range p.Disks {
			tally(d.KMSKey != "" || d.CustomerSupplied)
		}
		for _, in := range p.SQLInstances {
			tally(!in.PublicIP)
			tally(in.Backups)
		}
		for _, f := range p.Firewalls {
			unique("firewall "+p.ID, f.Name)
		}
		if len(p.Buckets) != 15 || len(p.Disks) != 15 || len(p.Subnets) != 15 || len(p.KeyRings) != 3 || len(p.Firewalls) != 5 {
			t.Errorf("project %s is not sized by the spec: %d buckets, %d disks, %d subnets, %d key rings, %d firewalls",
				p.ID, len(p.Buckets), len(p.Disks), len(p.Subnets), len(p.KeyRings), len(p.Firewalls))
		}
	}
	if share := float64(ok) / float64(total); share < 0.55 || share > 0.85 {
		t.Errorf("%.2f of sampled settings are compliant, want about %.1f", share, compliantShare)
	}
}

func TestDemoEstate(t *testing.T) {
	e := Demo()
	parentsExist(t, e)
	if len(e.Projects) != 3 || e.Organization == "" {
		t.Fatalf("demo has %d projects in organisation %q, want 3 in one", len(e.Projects), e.Organization)
	}
	us := 0
	for _, p := range e.Projects {
		for _, b := range p.Buckets {
			if strings.HasPrefix(b.Location, "US") {
				us++
			}
		}
		for _, d := range p.Disks {
			if strings.HasPrefix(d.Zone, "us-") {
				us++
			}
		}
	}
	if us == 0 {
		t.Error("nothing in the US: an EU-only location policy would have nothing to fail")
	}
}
