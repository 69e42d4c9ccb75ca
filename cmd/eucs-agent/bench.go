package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eucs-agent/eucs-agent/collectors/aws"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/agent"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/config"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// The benchmark collects a generated estate through the real pipeline
// (organization discovery, the AWS SDK over loopback, mapping, sealing into
// parts, the evidence directory) against a simulator that answers with
// AWS-like latency and throttles with AWS-like token buckets, and reports
// how close the run came to the fastest the rate limits allow.
//
// The simulator runs in a child process (this binary, `bench --serve-sim`),
// so that the peak RSS reported is the agent's alone; --in-process keeps it
// in this process, for debugging and tests.

// benchRegions are the regions a benchmark estate uses, in order; the EU
// ones are the data-location policy's allowed regions.
var benchRegions = []string{"eu-west-1", "eu-central-1", "us-east-1", "eu-north-1", "eu-west-3", "us-west-2", "eu-south-1", "ap-southeast-1"}

// benchExternalID is the external ID every member account's role demands,
// as an organization-wide StackSet would deploy it.
const benchExternalID = "eucs-bench"

// benchStatsPath is where the simulator child reports its buckets; no S3
// bucket name can start with an underscore, so it never shadows one.
const benchStatsPath = "/_bench/stats"

type benchOptions struct {
	resources, accounts, regions int
	seed                         uint64
	latency                      time.Duration
	concurrency                  int
	partFindings, partMiB        int
	inProcess, verify            bool
	out                          string
	verbose                      bool
	cpuProfile, memProfile       string
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", "bench [--resources N] [--accounts A] [--regions R] [flags]", stdout, stderr)
	var o benchOptions
	fs.IntVar(&o.resources, "resources", 100_000, "resources in the simulated estate (rounded to whole resources of each kind per account and region)")
	fs.IntVar(&o.accounts, "accounts", 10, "accounts in the simulated organization (the first is its management account)")
	fs.IntVar(&o.regions, "regions", 4, fmt.Sprintf("regions per account, from %s", strings.Join(benchRegions, ", ")))
	fs.Uint64Var(&o.seed, "seed", 1, "generator seed: the same seed and sizes give the same estate")
	fs.DurationVar(&o.latency, "latency", 20*time.Millisecond, "simulated round trip of every API call")
	fs.IntVar(&o.concurrency, "concurrency", 32, "collectors.aws.concurrency: scopes collected at once")
	fs.IntVar(&o.partFindings, "part-findings", bundle.DefaultPartFindings, "most findings in one signed part")
	fs.IntVar(&o.partMiB, "part-mib", int(bundle.DefaultPartBytes>>20), "payload MiB one signed part aims at")
	fs.BoolVar(&o.inProcess, "in-process", false, "serve the simulated estate from this process (its memory then counts in the peak RSS)")
	fs.BoolVar(&o.verify, "verify", true, "verify the evidence with `eucs-agent verify` after the run (after the peak RSS is taken)")
	fs.StringVar(&o.out, "out", "", "keep the evidence, key and state in this directory (default: a temporary one, removed)")
	fs.BoolVar(&o.verbose, "v", false, "log the agent's progress to stderr")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (and the simulator's to FILE.sim)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of the agent at its largest live heap to this file")
	serveSim := fs.Bool("serve-sim", false, "serve the simulated estate and print its address on stdout until stdin closes (the benchmark runs itself so)")
	perRegion := fs.Int("per-region", 0, "with --serve-sim: resources of each kind per account and region")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if o.accounts < 1 || o.regions < 1 || o.regions > len(benchRegions) || o.resources < 1 || o.concurrency < 1 {
		fmt.Fprintf(stderr, "bench: need --resources, --accounts and --concurrency of at least 1 and --regions from 1 to %d\n", len(benchRegions))
		return exitBadUsage
	}
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return exitFailed
		}
		defer stop()
	}
	if *serveSim {
		if err := serveBenchSim(ctx, o, *perRegion, os.Stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "bench --serve-sim: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	if err := runBench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// perRegionFor is the generator's PerRegion that comes closest to n
// resources: each account has PerRegion IAM users and, in each region,
// PerRegion buckets, volumes, security groups, VPCs, KMS keys and DB
// instances, and up to 5 trails.
func perRegionFor(n, accounts, regions int) int {
	best, bestDiff := 1, -1
	for p := 1; ; p++ {
		got := accounts * (regions*(6*p+min(p, 5)) + p)
		diff := got - n
		if diff < 0 {
			diff = -diff
		}
		if bestDiff >= 0 && diff > bestDiff {
			return best
		}
		best, bestDiff = p, diff
	}
}

// benchEstate generates the estate: every member account's role demands
// benchExternalID.
func benchEstate(o benchOptions, perRegion int) *awssim.Estate {
	e := awssim.Generate(o.seed, awssim.Spec{Accounts: o.accounts, Regions: benchRegions[:o.regions], PerRegion: perRegion})
	for i, a := range e.Accounts {
		if i > 0 {
			a.ExternalID = benchExternalID
		}
	}
	return e
}

// simInfo is what the simulator tells the benchmark when it is up.
type simInfo struct {
	URL        string `json:"url"`
	Management string `json:"management"`
	Resources  int    `json:"resources"`
	Accounts   int    `json:"accounts"`
}

// simStats is what the simulator reports after the run.
type simStats struct {
	Buckets     []awssim.BucketStat `json:"buckets"`
	Calls       int64               `json:"calls"`
	PeakRSSKiB  int64               `json:"peak_rss_kib"`
	GenerateSec float64             `json:"generate_seconds"`
}

// benchSim is a running simulator, in this process or a child.
type benchSim struct {
	info  simInfo
	stats func(ctx context.Context) (simStats, error)
	close func()
}

// newSimServer generates the estate and returns the simulator serving it
// with AWS's limits and the configured latency, and the time generation
// took.
func newSimServer(o benchOptions, perRegion int) (*awssim.Server, simInfo, time.Duration) {
	start := time.Now()
	e := benchEstate(o, perRegion)
	took := time.Since(start)
	srv := awssim.NewServer(e)
	srv.Limits = awssim.DefaultLimits()
	srv.Latency = o.latency
	return srv, simInfo{Management: e.Accounts[0].ID, Resources: e.Resources(), Accounts: len(e.Accounts)}, took
}

// serveBenchSim is the child: it serves the estate on loopback, prints a
// simInfo line, and serves until stdin closes (the parent exited or is
// done).
func serveBenchSim(ctx context.Context, o benchOptions, perRegion int, stdin io.Reader, stdout io.Writer) error {
	if perRegion < 1 {
		return errors.New("needs --per-region")
	}
	srv, info, took := newSimServer(o, perRegion)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	info.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc(benchStatsPath, func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(simStats{Buckets: srv.BucketStats(), Calls: srv.TotalCalls(), PeakRSSKiB: peakRSSKiB(), GenerateSec: took.Seconds()})
	})
	mux.Handle("/", srv)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	go hs.Serve(ln)
	if err := json.NewEncoder(stdout).Encode(info); err != nil {
		return err
	}
	io.Copy(io.Discard, stdin)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// startSim starts the simulator, as a child process unless o.inProcess.
func startBenchSim(ctx context.Context, o benchOptions, perRegion int) (*benchSim, error) {
	if o.inProcess {
		srv, info, took := newSimServer(o, perRegion)
		ts := &http.Server{Handler: srv, ReadHeaderTimeout: time.Minute}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		go ts.Serve(ln)
		info.URL = "http://" + ln.Addr().String()
		return &benchSim{
			info: info,
			stats: func(context.Context) (simStats, error) {
				return simStats{Buckets: srv.BucketStats(), Calls: srv.TotalCalls(), GenerateSec: took.Seconds()}, nil
			},
			close: func() { ts.Close() },
		}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start the simulator: %w", err)
	}
	args := []string{"bench", "--serve-sim",
		"--seed", strconv.FormatUint(o.seed, 10), "--accounts", strconv.Itoa(o.accounts), "--regions", strconv.Itoa(o.regions),
		"--resources", strconv.Itoa(o.resources), "--per-region", strconv.Itoa(perRegion), "--latency", o.latency.String()}
	if o.cpuProfile != "" {
		args = append(args, "--cpuprofile", o.cpuProfile+".sim")
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the simulator: %w", err)
	}
	stop := func() {
		stdin.Close()
		cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		stop()
		return nil, fmt.Errorf("the simulator did not start: %w", err)
	}
	var info simInfo
	if err := json.Unmarshal(line, &info); err != nil {
		stop()
		return nil, fmt.Errorf("the simulator said %q: %w", line, err)
	}
	return &benchSim{
		info: info,
		stats: func(ctx context.Context) (simStats, error) {
			var st simStats
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, info.URL+benchStatsPath, nil)
			if err != nil {
				return st, err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return st, fmt.Errorf("ask the simulator for its counts: %w", err)
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				return st, fmt.Errorf("read the simulator's counts: %w", err)
			}
			return st, nil
		},
		close: stop,
	}, nil
}

func runBench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	dir := o.out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "eucs-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return err
	}
	keyPath, pubPath := filepath.Join(keys, bundle.PrivateKeyFile), filepath.Join(keys, bundle.PublicKeyFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		if _, _, err := bundle.GenerateKey(keys); err != nil {
			return err
		}
	}

	perRegion := perRegionFor(o.resources, o.accounts, o.regions)
	sim, err := startBenchSim(ctx, o, perRegion)
	if err != nil {
		return err
	}
	defer sim.close()
	where := "in a child process"
	if o.inProcess {
		where = "in this process"
	}
	fmt.Fprintf(stdout, "eucs-agent bench: %d resources in %d accounts × %d regions (seed %d, %d of each kind per account and region)\n",
		sim.info.Resources, sim.info.Accounts, o.regions, o.seed, perRegion)
	fmt.Fprintf(stdout, "  simulator %s: %s per call, AWS-like rate limits; agent concurrency %d, parts of %d findings or %d MiB\n",
		where, o.latency, o.concurrency, o.partFindings, o.partMiB)

	regions := benchRegions[:o.regions]
	var allowed []string
	for _, r := range regions {
		if strings.HasPrefix(r, "eu-") {
			allowed = append(allowed, r)
		}
	}
	logLevel := "error"
	if o.verbose {
		logLevel = "info"
	}
	cfg := &config.Config{
		Service:  "Benchmark (simulated)",
		Level:    "high",
		StateDir: filepath.Join(dir, "state"),
		Signing:  config.Signing{Key: keyPath},
		Collectors: config.Collectors{AWS: &aws.Config{
			Regions:        regions,
			AllowedRegions: allowed,
			Organization:   &aws.Organization{RoleName: "eucs-agent", ExternalID: benchExternalID},
			EndpointURL:    sim.info.URL,
			S3PathStyle:    true,
			Concurrency:    o.concurrency,
		}},
		Exporters: config.Exporters{Directory: &directory.Config{Path: filepath.Join(dir, "evidence")}},
		Log:       config.Log{Level: logLevel, Format: "text"},
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("benchmark config: %w", err)
	}
	log := newLogger(stderr, cfg.Log)
	base := awssdk.Config{
		Region:      cfg.Collectors.AWS.HomeRegion,
		Credentials: credentials.NewStaticCredentialsProvider(awssim.AccessKeyFor(sim.info.Management), "simulated-secret", ""),
	}
	a, err := buildAgent(ctx, cfg, sources{awsBase: &base}, log)
	if err != nil {
		return err
	}
	a.PartLimits = bundle.PartLimits{Findings: o.partFindings, Bytes: int64(o.partMiB) << 20}

	if o.memProfile != "" {
		stop := watchHeap(ctx, o.memProfile, stderr)
		defer stop()
	}
	rss := sampleRSS(ctx)
	start := time.Now()
	s, err := a.RunOnce(ctx)
	wall := time.Since(start)
	anon, file := rss()
	if err != nil {
		return err
	}
	agentRSS := peakRSSKiB()
	st, err := sim.stats(ctx)
	if err != nil {
		return err
	}
	printBench(stdout, o, s, wall, agentRSS, anon, file, st)

	if o.verify {
		fmt.Fprint(stdout, "  verify             ")
		files, err := filepath.Glob(filepath.Join(cfg.Exporters.Directory.Path, "*.dsse.json"))
		if err != nil {
			return err
		}
		var out strings.Builder
		if code := cmdVerify(ctx, append([]string{"--key", pubPath}, files...), &out, &out); code != exitOK {
			fmt.Fprint(stdout, out.String())
			return fmt.Errorf("the evidence does not verify (exit %d)", code)
		}
		fmt.Fprint(stdout, strings.TrimPrefix(out.String(), ""))
	}
	return nil
}

// printBench writes the report.
func printBench(w io.Writer, o benchOptions, s *agent.Summary, wall time.Duration, agentRSS, anon, file int64, st simStats) {
	var throttled int64
	for _, b := range st.Buckets {
		throttled += b.Throttled
	}
	bound, binding := awssim.LowerBound(st.Buckets)
	sealed := fmt.Sprintf("bundle %d", s.Sequence)
	if s.Parts > 0 {
		sealed += fmt.Sprintf(" in %d parts", s.Parts)
	}
	fmt.Fprintf(w, "  sealed %s: %d findings over %d scopes; not assessed: %v\n", sealed, s.Findings, s.Scopes, reasons(s.NotAssessed))
	fmt.Fprintf(w, "  API calls          %d (throttled by the simulator: %d)\n", st.Calls, throttled)
	if throttled > 0 {
		var where []string
		for _, b := range st.Buckets {
			if b.Throttled > 0 && len(where) < 5 {
				where = append(where, fmt.Sprintf("%s:%s %s %s ×%d", b.Service, b.Action, b.Account, b.Region, b.Throttled))
			}
		}
		fmt.Fprintf(w, "  throttled in       %s\n", strings.Join(where, "; "))
	}
	fmt.Fprintf(w, "  wall time          %s\n", wall.Round(10*time.Millisecond))
	if bound > 0 {
		region := binding.Region
		if region == "" {
			region = "every region"
		}
		api := binding.Service
		if binding.Action != "" {
			api += ":" + binding.Action
		}
		fmt.Fprintf(w, "  rate-limit bound   %s (%s of account %s in %s: %d calls at %g/s after a burst of %d)\n",
			bound.Round(10*time.Millisecond), api, binding.Account, region, binding.Calls, binding.Limit.Rate, binding.Limit.Burst)
		fmt.Fprintf(w, "  wall / bound       %.2f\n", wall.Seconds()/bound.Seconds())
	} else {
		fmt.Fprintf(w, "  rate-limit bound   0s (every bucket's calls fit its burst)\n")
	}
	fmt.Fprintf(w, "  findings/s         %.0f\n", float64(s.Findings)/wall.Seconds())
	sim := "the simulator runs in its own process"
	if st.PeakRSSKiB > 0 {
		sim += fmt.Sprintf(", peak RSS %d MiB", st.PeakRSSKiB>>10)
	}
	if o.inProcess {
		sim = "the simulator and its estate run in this process and are included"
	}
	fmt.Fprintf(w, "  peak RSS (agent)   %d MiB (VmHWM; %s)\n", agentRSS>>10, sim)
	if anon > 0 {
		fmt.Fprintf(w, "                     of which at most %d MiB anonymous (heap, stacks) and %d MiB mapped from the %d MiB binary (RssAnon, RssFile, sampled every 100ms)\n",
			anon>>10, file>>10, binarySize()>>20)
	}
	fmt.Fprintf(w, "  machine            %d CPUs, GOMAXPROCS %d, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAverage())
}

func reasons(m map[finding.Reason]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range agent.SortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
	}
	return strings.Join(parts, ", ")
}

// startCPUProfile profiles this process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// watchHeap writes a heap profile to path whenever the live heap (as of
// the last GC) reaches a new high, until stop: the profile left is the
// largest the run had.
func watchHeap(ctx context.Context, path string, stderr io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak uint64
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if live := sample[0].Value.Uint64(); live > peak {
				peak = live
				f, err := os.Create(path)
				if err != nil {
					fmt.Fprintf(stderr, "bench: heap profile: %v\n", err)
					return
				}
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// sampleRSS samples the process's anonymous and file-backed resident
// memory until the returned function is called, which returns the largest
// of each. VmHWM is the peak of their sum; the split shows how much of it
// is the program's own memory rather than its code, mapped from disk.
func sampleRSS(ctx context.Context) func() (anonKiB, fileKiB int64) {
	ctx, cancel := context.WithCancel(ctx)
	var anon, file int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			a, f := rssKiB()
			anon, file = max(anon, a), max(file, f)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) {
		cancel()
		<-done
		return anon, file
	}
}

// rssKiB reads RssAnon and RssFile from /proc/self/status (0 without it).
func rssKiB() (anon, file int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "RssAnon" && k != "RssFile") {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if k == "RssAnon" {
			anon = n
		} else {
			file = n
		}
	}
	return anon, file
}

// binarySize is the size of this program's executable.
func binarySize() int64 {
	self, err := os.Executable()
	if err != nil {
		return 0
	}
	fi, err := os.Stat(self)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// peakRSSKiB is the process's peak resident set size: VmHWM from
// /proc/self/status, or getrusage's ru_maxrss where there is no /proc.
func peakRSSKiB() int64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
					return n
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		return ru.Maxrss // KiB on Linux
	}
	return 0
}

// loadAverage describes how busy the machine was, for reading the figures.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "load unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
