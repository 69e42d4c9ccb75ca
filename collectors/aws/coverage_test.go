package aws

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// TestEveryCheckIsMapped proves that every check the collector can emit has
// an entry in the embedded check catalogue, so no finding can reach the
// mapper unmapped.
func TestEveryCheckIsMapped(t *testing.T) {
	set, err := controls.Load()
	if err != nil {
		t.Fatal(err)
	}
	ids := Checks()
	if len(ids) < 20 {
		t.Errorf("only %d checks", len(ids))
	}
	for _, id := range ids {
		c, ok := set.Check(id)
		if !ok {
			t.Errorf("check %s is emitted but not mapped in controls/checks/aws.yaml", id)
			continue
		}
		if c.Provider != Provider {
			t.Errorf("check %s is mapped under provider %q", id, c.Provider)
		}
	}
}

func TestCoverageNamesEachScopeOnceAndSaysWhyNot(t *testing.T) {
	e := testEstate()
	c, sim := startSim(t, e, nil)
	sim.Inject(awssim.Fault{Service: "rds", Kind: awssim.AccessDenied})
	rec := collect(t, c)
	seen := map[string]finding.Coverage{}
	for _, cv := range rec.Covered {
		key := cv.Account + "/" + cv.Region + "/" + cv.Service
		if _, dup := seen[key]; dup {
			t.Errorf("coverage for %s recorded twice", key)
		}
		seen[key] = cv
	}
	want := map[string]finding.CoverageStatus{
		"111111111111/eu-west-1/ec2/ebs":             finding.Assessed,
		"111111111111/eu-west-1/ec2/security_groups": finding.Assessed,
		"111111111111/eu-west-1/ec2/vpc":             finding.Assessed,
		"111111111111/global/iam":                    finding.Assessed,
		"111111111111/global/s3":                     finding.Assessed,
		"111111111111/eu-west-1/rds":                 finding.NotCovered,
	}
	for key, st := range want {
		cv, ok := seen[key]
		if !ok {
			t.Errorf("no coverage for %s; have %v", key, seen)
			continue
		}
		if cv.Status != st {
			t.Errorf("%s: status %s, want %s", key, cv.Status, st)
		}
	}
	if rds := seen["111111111111/eu-west-1/rds"]; rds.Reason != finding.AccessDenied || rds.Detail == "" {
		t.Errorf("rds coverage does not say why: %+v", rds)
	}
}

// failingSink accepts a few findings, then fails like a full disk.
type failingSink struct {
	recorder
	after int
	seen  atomic.Int64
}

var errDiskFull = errors.New("disk full")

func (s *failingSink) Finding(ctx context.Context, f finding.Finding) error {
	if s.seen.Add(1) > int64(s.after) {
		return errDiskFull
	}
	return s.recorder.Finding(ctx, f)
}

func TestASinkFailureEndsTheRunWithItsCause(t *testing.T) {
	e := twoAccounts()
	c, _ := startSim(t, e, roleAccounts)
	err := c.Collect(context.Background(), &failingSink{after: 3})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Collect() = %v, want the sink's error", err)
	}
}
