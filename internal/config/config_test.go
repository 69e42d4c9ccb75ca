package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err from the current errors")

func TestValidConfigLoadsWithDefaults(t *testing.T) {
	cfg, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TargetLevel() != controls.Substantial {
		t.Errorf("level %q", cfg.TargetLevel())
	}
	if got := cfg.Collectors.AWS.Accounts[0].ExternalID; got != "cab-2026" {
		t.Errorf("external_id %q", got)
	}
	if cfg.Collectors.AWS.Concurrency != 32 || cfg.Collectors.AWS.CallTimeout != 30*time.Second {
		t.Errorf("aws defaults not applied: %+v", cfg.Collectors.AWS)
	}
	if got := cfg.Parts.Limits(); got != bundle.DefaultPartLimits() {
		t.Errorf("part limits %+v, want the bundle defaults", got)
	}
	if cfg.KeyPath() != "/etc/eucs-agent/key.pem" {
		t.Errorf("key path %q", cfg.KeyPath())
	}
	s, err := cfg.Cron()
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	from := time.Date(2026, 11, 29, 10, 10, 0, 0, berlin)
	if next := s.Next(from); !next.Equal(time.Date(2026, 11, 29, 10, 30, 0, 0, berlin)) {
		t.Errorf("next run after %v is %v", from, next)
	}
}

func TestMinimalConfigGetsDefaults(t *testing.T) {
	cfg, err := Parse([]byte("service: S\nsigning: {key: k.pem}\ncollectors: {aws: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Level != "high" || cfg.Schedule != DefaultSchedule || cfg.StateDir != DefaultStateDir ||
		cfg.Exporters.Directory.Path != "evidence" || cfg.Log.Format != "json" ||
		len(cfg.Collectors.AWS.Regions) != 1 || cfg.Collectors.AWS.Regions[0] != "all" {
		t.Errorf("defaults: %+v", cfg)
	}
}

// Every testdata/invalid-*.yaml is paired with the exact error a user sees,
// in testdata/invalid-*.err.
func TestInvalidConfigsReportEveryProblemWithItsPath(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) < 5 {
		t.Fatalf("found only %d invalid configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644)
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("no golden error (run go test -update): %v", rerr)
			}
			if diff := cmp.Diff(strings.TrimSuffix(string(want), "\n"), err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPartsTakeUnits(t *testing.T) {
	cfg, err := Parse([]byte("service: S\nsigning: {key: k.pem}\ncollectors: {aws: {}}\nparts: {max_findings: 1000, max_bytes: 2MiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Parts.Limits(), (bundle.PartLimits{Findings: 1000, Bytes: 2 << 20}); got != want {
		t.Errorf("limits %+v, want %+v", got, want)
	}
}
