package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

func TestRunOverThePartBoundIsStoredAsManifestAndPartsThatVerify(t *testing.T) {
	var fs []finding.Finding
	for i := range 30 {
		fs = append(fs, finding.Finding{Check: "aws.s3.versioning", Provider: "aws", Account: fmt.Sprintf("%012d", i%3),
			Region: "eu-west-1", Service: "s3", Resource: fmt.Sprintf("arn:aws:s3:::b%d", i), Status: finding.Pass})
	}
	a := newTestAgent(t, &fakeCollector{findings: fs})
	a.PartLimits = bundle.PartLimits{Findings: 10}
	ctx := context.Background()
	first, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Parts != 3 || first.Findings != 30 || first.Path != a.Evidence.Path(1) {
		t.Fatalf("summary %+v, want 3 parts of bundle 1", first)
	}
	// A run within the bound chains to the split one as a single bundle.
	a.Collectors[0].(*fakeCollector).findings = fs[:5]
	second, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.Parts != 0 || second.Sequence != 2 {
		t.Fatalf("summary %+v, want bundle 2 without parts", second)
	}

	dir := filepath.Dir(first.Path)
	names, err := filepath.Glob(filepath.Join(dir, "*.dsse.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{directory.FileName(1), directory.PartFileName(1, 1), directory.PartFileName(1, 2), directory.PartFileName(1, 3), directory.FileName(2)}
	if len(names) != len(want) {
		t.Fatalf("evidence holds %v, want %v", names, want)
	}
	var in []bundle.Input
	for i, n := range names {
		if filepath.Base(n) != want[i] {
			t.Errorf("file %d is %s, want %s", i, filepath.Base(n), want[i])
		}
		in = append(in, bundle.Input{Name: n, Open: func() ([]byte, error) { return os.ReadFile(n) }})
	}
	rep, err := bundle.Verify(ctx, a.Signer.Public(), in)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Findings != 35 || rep.First != 1 || rep.Last != 2 || rep.Bundles[0].Parts != 3 {
		t.Errorf("report %v", rep)
	}
}
