package bundle

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// BenchmarkWriterFindings measures findings per second through
// Writer.Finding and one Seal (spool, per-scope hashing, payload assembly,
// signing), from one goroutine and from GOMAXPROCS goroutines as collectors
// emit them.
//
//	go test -run '^$' -bench BenchmarkWriterFindings -benchmem ./internal/bundle/
func BenchmarkWriterFindings(b *testing.B) {
	s := newSigner(b)
	ctx := context.Background()
	fs := make([]finding.Finding, 1000)
	for i := range fs {
		fs[i] = testFinding(fmt.Sprintf("%012d", i%10), i)
	}
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			w, err := NewWriter(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						if err := w.Finding(ctx, fs[i%len(fs)]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for i := 0; i < b.N; i++ {
					if err := w.Finding(ctx, fs[i%len(fs)]); err != nil {
						b.Fatal(err)
					}
				}
			}
			if _, err := w.Seal(ctx, testMeta(1), testResults, Link{Sequence: 1}, s); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "findings/s")
			b.ReportMetric(float64(b.N)/(processCPU(b)-cpu0).Seconds(), "findings/cpu-s")
		})
	}
}

// processCPU is the CPU time the process has used so far, user and system,
// GC included: on a busy shared machine, findings per CPU second is the
// figure that does not depend on what else runs.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
