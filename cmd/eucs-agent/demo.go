package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/collectors/aws"
	"github.com/eucs-agent/eucs-agent/collectors/azure"
	"github.com/eucs-agent/eucs-agent/collectors/gcp"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/config"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

// demoRegions are the simulated estate's regions; the data-location policy
// allows only the EU ones, so resources in us-east-1 fail it.
var (
	demoRegions        = []string{"eu-central-1", "eu-west-1", "us-east-1"}
	demoAllowedRegions = []string{"eu-central-1", "eu-west-1"}
	// demoAzureAllowedRegions leave eastus out, where the Azure demo
	// estate keeps a few resources.
	demoAzureAllowedRegions = []string{"westeurope", "germanywestcentral"}
	// demoGCPAllowedRegions name the EU multi-regions explicitly: a
	// multi-region counts only when named.
	demoGCPAllowedRegions = []string{"europe-west1", "europe-west3", "eu", "europe"}
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--out ./evidence]", stdout, stderr)
	out := fs.String("out", "evidence", "directory for the bundles, the public key and the demo's chain state")
	verbose := fs.Bool("v", false, "log the agent's progress to stderr")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	logLevel := "error"
	if *verbose {
		logLevel = "info"
	}
	log := newLogger(stderr, config.Log{Level: logLevel, Format: "text"})
	if err := runDemo(ctx, *out, stdout, log); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func runDemo(ctx context.Context, out string, stdout io.Writer, log *slog.Logger) error {
	stateDir := filepath.Join(out, ".demo-state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	keyPath, pubPath := filepath.Join(stateDir, "key.pem"), filepath.Join(out, "agent.pub")
	// A fresh key on the first run, the same key after, so that later runs
	// chain to earlier ones under one verifiable key.
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		priv, pub, err := bundle.GenerateKey(stateDir)
		if err != nil {
			return err
		}
		if priv != keyPath {
			return fmt.Errorf("key generated at %s, expected %s", priv, keyPath)
		}
		if err := os.Rename(pub, pubPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Generated a demo signing key; public key: %s\n", pubPath)
	}

	estate := awssim.Demo()
	sim := awssim.NewServer(estate)
	// The simulated estate is honest about what it cannot see: one account
	// refuses GuardDuty in one region, another throttles KMS, so the summary
	// shows requirements left not assessed rather than passed.
	sim.Inject(awssim.Fault{Account: estate.Accounts[1].ID, Region: "eu-central-1", Service: "guardduty", Kind: awssim.AccessDenied})
	sim.Inject(awssim.Fault{Account: estate.Accounts[2].ID, Region: "eu-west-1", Service: "kms", Kind: awssim.Throttle})
	srv := sim.Start()
	defer srv.Close()

	// Azure: three subscriptions under one management group, served by the
	// ARM simulator over loopback TLS. Defender is refused in the sandbox and
	// one database's TDE answer is throttled.
	azSim := azuresim.NewServer(azuresim.Demo())
	azSim.Inject(azuresim.Fault{Subscription: azuresim.DemoSandbox, Service: "defender", Kind: azuresim.AccessDenied})
	azSim.Inject(azuresim.Fault{Subscription: azuresim.DemoProduction, Operation: "TransparentDataEncryptions_Get",
		Resource: "reports", Kind: azuresim.Throttle, RetryAfter: 50 * time.Millisecond})
	azSrv := azSim.Start()
	defer azSrv.Close()

	// GCP: three projects under one organisation. Cloud KMS is refused in
	// one location of one project and Cloud SQL throttles in the sandbox.
	gcpEstate := gcpsim.Demo()
	gcpSim := gcpsim.NewServer(gcpEstate)
	gcpSim.Inject(gcpsim.Fault{Project: "demo-prod-eu", Service: "cloudkms", Method: "keyRings.list", Resource: "europe-west3", Kind: gcpsim.AccessDenied})
	gcpSim.Inject(gcpsim.Fault{Project: "demo-sandbox", Service: "sqladmin", Kind: gcpsim.Throttle})
	gcpSrv := gcpSim.Start()
	defer gcpSrv.Close()

	var accounts []aws.Account
	for _, a := range estate.Accounts {
		accounts = append(accounts, aws.Account{ID: a.ID, RoleARN: "arn:aws:iam::" + a.ID + ":role/eucs-agent"})
	}
	cfg := &config.Config{
		Service:  "Demo Cloud Service (simulated)",
		Level:    "high",
		StateDir: stateDir,
		Signing:  config.Signing{Key: keyPath},
		Collectors: config.Collectors{AWS: &aws.Config{
			Regions:        demoRegions,
			AllowedRegions: demoAllowedRegions,
			Accounts:       accounts,
			EndpointURL:    srv.URL,
			S3PathStyle:    true,
			MaxAttempts:    2,
		},
			Azure: &azure.Config{
				ManagementGroup: azuresim.DemoGroup,
				AllowedRegions:  demoAzureAllowedRegions,
				EndpointURL:     azSrv.URL,
				MaxAttempts:     2,
			},
			GCP: &gcp.Config{
				Organization:   gcpEstate.Organization,
				AllowedRegions: demoGCPAllowedRegions,
				Endpoint:       gcpSrv.URL,
				MaxAttempts:    2,
			},
		},
		Exporters: config.Exporters{Directory: &directory.Config{Path: out}},
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	base := awssdk.Config{
		Region:      cfg.Collectors.AWS.HomeRegion,
		Credentials: credentials.NewStaticCredentialsProvider(awssim.AccessKeyFor(estate.Accounts[0].ID), "simulated-secret", ""),
	}
	src := sources{
		awsBase:    &base,
		azureCred:  azSim.Credential(),
		azureOpts:  &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: azSrv.Client()}},
		gcpOptions: []option.ClientOption{option.WithoutAuthentication()},
	}
	a, err := buildAgent(ctx, cfg, src, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Collecting from a simulated estate:\n  AWS:   %d accounts, regions %v, allowed regions %v\n",
		len(estate.Accounts), demoRegions, demoAllowedRegions)
	fmt.Fprintf(stdout, "  Azure: management group %s, allowed regions %v\n", azuresim.DemoGroup, demoAzureAllowedRegions)
	fmt.Fprintf(stdout, "  GCP:   organization %s, allowed regions %v\n", gcpEstate.Organization, demoGCPAllowedRegions)
	s, err := a.RunOnce(ctx)
	if err != nil {
		return err
	}
	printSummary(stdout, s, a.Level)
	fmt.Fprintf(stdout, "\nVerify the chain so far, as an auditor would:\n  go run ./cmd/eucs-agent verify --key %s %s\n",
		pubPath, filepath.Join(out, "bundle-*.dsse.json"))
	return nil
}
