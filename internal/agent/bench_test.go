package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// BenchmarkMapAndSeal measures the agent's own work per finding once a
// collector has it: the EUCS mapping and roll-up, the status counts, the
// canonical encoding, spooling and per-scope hashing, and sealing (payload
// assembly, hashing, signing, base64) into parts of the default size. The
// "directory" case also stores every part in an evidence directory (fsync
// included), as RunOnce does; "discard" drops them. Besides findings per
// second of wall time it reports findings per second of the process's CPU
// time (user and system, GC included), which a busy shared machine does not
// distort. One core:
//
//	go test -run '^$' -bench BenchmarkMapAndSeal -benchmem -cpu 1 -benchtime 1000000x ./internal/agent/
func BenchmarkMapAndSeal(b *testing.B) {
	set, err := controls.Load()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	priv, _, err := bundle.GenerateKey(dir)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := bundle.LoadFileSigner(priv)
	if err != nil {
		b.Fatal(err)
	}
	ev, err := directory.New(directory.Config{Path: filepath.Join(dir, "evidence")})
	if err != nil {
		b.Fatal(err)
	}
	fs := benchFindings(4096)
	for _, store := range []string{"discard", "directory"} {
		b.Run(store, func(b *testing.B) {
			ctx := context.Background()
			put := func(context.Context, *bundle.Part) error { return nil }
			if store == "directory" {
				put = func(ctx context.Context, p *bundle.Part) error {
					return ev.ExportPart(ctx, p.Sequence, p.Index, p.Envelope)
				}
			}
			w, err := bundle.NewPartWriter(filepath.Join(dir), bundle.DefaultPartLimits())
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			tally := set.NewTally(controls.High)
			counts := &counter{next: w, statuses: map[finding.Status]int{}, reasons: map[finding.Reason]int{}}
			sink := set.NewMapper(tally, counts)
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := sink.Finding(ctx, fs[i%len(fs)]); err != nil {
					b.Fatal(err)
				}
			}
			now := time.Now()
			m := bundle.Meta{RunID: "bench", Started: now, Finished: now, AgentVersion: "bench", Service: "bench", Level: controls.High}
			if _, err := w.SealParts(ctx, m, tally.Results(), bundle.Link{Sequence: 1}, signer, bundle.DefaultPartLimits(), put); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "findings/s")
			b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu0).Seconds(), "findings/cpu-s")
			os.RemoveAll(filepath.Join(dir, "evidence"))
			os.MkdirAll(filepath.Join(dir, "evidence"), 0o750)
		})
	}
}

// cpuTime is the CPU time the process has used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchFindings is a mix shaped like a collection: mostly per-resource S3,
// KMS and EC2 verdicts with small observed excerpts, over eight accounts.
func benchFindings(n int) []finding.Finding {
	out := make([]finding.Finding, 0, n)
	for i := range n {
		acct := fmt.Sprintf("%012d", 100000000000+i%8)
		var f finding.Finding
		switch i % 4 {
		case 0:
			f = finding.Finding{Check: "aws.s3.default_encryption", Service: "s3", Region: "eu-west-1",
				Resource: fmt.Sprintf("arn:aws:s3:::acme-orders-eu-west-1-%08x", i), Status: finding.Pass,
				Detail: "new objects are encrypted by default", Observed: map[string]any{"sse_algorithm": "aws:kms"}}
		case 1:
			f = finding.Finding{Check: "aws.kms.key_rotation", Service: "kms", Region: "eu-central-1",
				Resource: fmt.Sprintf("arn:aws:kms:eu-central-1:%s:key/%08x-1f2e-4b7a-9c61-0d2e5f7a8b01", acct, i), Status: finding.Fail,
				Detail:   "customer managed key never rotates its key material",
				Observed: map[string]any{"key_manager": "CUSTOMER", "key_spec": "SYMMETRIC_DEFAULT", "key_state": "Enabled", "origin": "AWS_KMS", "key_rotation_enabled": false}}
		case 2:
			f = finding.Finding{Check: "aws.ec2.sg_admin_ports_open", Service: "ec2", Region: "us-east-1",
				Resource: fmt.Sprintf("arn:aws:ec2:us-east-1:%s:security-group/sg-0%016x", acct, i), Status: finding.Pass,
				Detail:   "no ingress rule opens SSH or RDP to the internet",
				Observed: map[string]any{"group_name": "web", "open_to_world": []any{map[string]any{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"}}}}
		default:
			f = finding.Finding{Check: "aws.s3.versioning", Service: "s3", Region: "eu-west-1",
				Resource: fmt.Sprintf("arn:aws:s3:::acme-orders-eu-west-1-%08x", i), Status: finding.NotAssessed, Reason: finding.Throttled,
				Detail: "get versioning of bucket: operation error S3: GetBucketVersioning, exceeded maximum attempts, SlowDown"}
		}
		f.Provider, f.Account = "aws", acct
		out = append(out, f)
	}
	return out
}
