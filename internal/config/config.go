// Package config reads agent.yaml: strictly (an unknown or misspelt key is an
// error), with defaults set in code, and validated as a whole so that every
// problem is reported at once, each prefixed by its YAML path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/collectors/aws"
	"github.com/eucs-agent/eucs-agent/collectors/azure"
	"github.com/eucs-agent/eucs-agent/collectors/gcp"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters/cab"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/signer"
	"github.com/eucs-agent/eucs-agent/internal/telemetry"
)

// Config is the whole agent.yaml.
type Config struct {
	// Service names the cloud service under certification.
	Service string `yaml:"service"`
	// Level is the target EUCS assurance level: basic, substantial or high.
	Level string `yaml:"level"`
	// Schedule is the daemon's cron expression (five fields, or a
	// descriptor such as @hourly).
	Schedule string `yaml:"schedule"`
	// Timezone the schedule is read in (IANA name); UTC when empty.
	Timezone string `yaml:"timezone"`
	// StateDir keeps the chain state and the run's spool files.
	StateDir string `yaml:"state_dir"`
	// Signing selects the key evidence is signed with.
	Signing Signing `yaml:"signing"`
	// Collectors to run; at least one.
	Collectors Collectors `yaml:"collectors"`
	// Exporters bundles are delivered to; the directory exporter is on by
	// default.
	Exporters Exporters `yaml:"exporters"`
	// Log configures the agent's own logs.
	Log Log `yaml:"log"`
	// Telemetry configures /metrics, /healthz, /readyz and OTLP export.
	Telemetry telemetry.Config `yaml:"telemetry"`
	// Shard, when set, makes this agent replica Index of Count that split
	// the estate's accounts (projects, subscriptions) between them; it
	// applies to every collector that has no shard block of its own. Each
	// replica keeps its own chain: give each its own state_dir.
	Shard *collectors.Shard `yaml:"shard"`
	// Parts bound each signed envelope: a run larger than them is sealed
	// as a manifest and parts (docs/evidence-format.md, section 11).
	Parts Parts `yaml:"parts"`
}

// Parts bounds the parts a large run is split into.
type Parts struct {
	// MaxFindings is the most findings one part holds.
	MaxFindings int `yaml:"max_findings"`
	// MaxBytes is the payload size parts aim at (a number of bytes, or
	// with a unit: 16MiB). Sealing holds about 2.4 times one part in
	// memory, and each part must fit the receiver's request limit.
	MaxBytes cab.ByteSize `yaml:"max_bytes"`
}

// Limits are the bundle package's part limits.
func (p Parts) Limits() bundle.PartLimits {
	return bundle.PartLimits{Findings: p.MaxFindings, Bytes: int64(p.MaxBytes)}
}

// Signing selects the signing key.
type Signing struct {
	// Key names an ECDSA P-256 key: a PKCS#8 PEM file (a path or file://
	// URI) or a KMS key (awskms://, gcpkms://, azurekms://); see
	// signer.Open.
	Key string `yaml:"key"`
}

// Collectors holds one block per provider; a nil block is off.
type Collectors struct {
	AWS   *aws.Config   `yaml:"aws"`
	Azure *azure.Config `yaml:"azure"`
	GCP   *gcp.Config   `yaml:"gcp"`
}

// Exporters holds one block per exporter.
type Exporters struct {
	Directory *directory.Config `yaml:"directory"`
	// CertificationBody delivers bundles to a CAB's eucs-receiver; off
	// unless configured.
	CertificationBody *cab.Config `yaml:"certification_body"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text.
	Format string `yaml:"format"`
}

// Defaults set in code.
const (
	DefaultSchedule = "0 * * * *"
	DefaultStateDir = "state"
	DefaultLevel    = "high"
	// MinPartBytes is the smallest part size accepted: below it, parts
	// would hold a handful of findings each and a run thousands of files.
	MinPartBytes = 4 << 10
)

// Load reads, defaults and validates the file at path.
func Load(path string) (*Config, error) { return LoadWith(path, Overrides{}) }

// Overrides are settings given on the command line rather than in the
// file; they replace the file's before defaults are set and the whole is
// validated.
type Overrides struct {
	// Shard, when set, is this replica's shard for every collector: it
	// replaces the top-level shard block and any collector's own, so that
	// a StatefulSet can give each pod its ordinal while sharing one file.
	Shard *collectors.Shard
}

// LoadWith is Load with command-line overrides.
func LoadWith(path string, o Overrides) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parse(data, o)
	if err != nil {
		if lines := strings.Split(err.Error(), "\n"); len(lines) > 1 {
			return nil, fmt.Errorf("config %s has %d problems:\n  %s", path, len(lines), strings.Join(lines, "\n  "))
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// yamlFieldRe matches yaml.v3's strict-decoding complaint, which names a Go
// type a user has never heard of.
var yamlFieldRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// yamlError restates a YAML decoding error per offending line.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	msg = yamlFieldRe.ReplaceAllString(msg, "line $1: unknown key \"$2\"")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// Parse decodes, defaults and validates a config document.
func Parse(data []byte) (*Config, error) { return parse(data, Overrides{}) }

func parse(data []byte, o Overrides) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, yamlError(err)
	}
	if o.Shard != nil {
		shard := *o.Shard
		cfg.Shard = &shard
		if cfg.Collectors.AWS != nil {
			cfg.Collectors.AWS.Shard = nil
		}
		if cfg.Collectors.Azure != nil {
			cfg.Collectors.Azure.Shard = nil
		}
		if cfg.Collectors.GCP != nil {
			cfg.Collectors.GCP.Shard = nil
		}
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// SetDefaults fills every unset field.
func (c *Config) SetDefaults() {
	if c.Level == "" {
		c.Level = DefaultLevel
	}
	if c.Schedule == "" {
		c.Schedule = DefaultSchedule
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Parts.MaxFindings == 0 {
		c.Parts.MaxFindings = bundle.DefaultPartFindings
	}
	if c.Parts.MaxBytes == 0 {
		c.Parts.MaxBytes = cab.ByteSize(bundle.DefaultPartBytes)
	}
	if c.Collectors.Azure != nil {
		c.Collectors.Azure.SetDefaults()
		c.Collectors.Azure.Shard = inheritShard(c.Shard, c.Collectors.Azure.Shard)
	}
	if c.Collectors.GCP != nil {
		c.Collectors.GCP.SetDefaults()
		c.Collectors.GCP.Shard = inheritShard(c.Shard, c.Collectors.GCP.Shard)
	}
	if c.Collectors.AWS != nil {
		c.Collectors.AWS.SetDefaults()
		c.Collectors.AWS.Shard = inheritShard(c.Shard, c.Collectors.AWS.Shard)
	}
	if c.Exporters.Directory == nil {
		c.Exporters.Directory = &directory.Config{}
	}
	c.Exporters.Directory.SetDefaults()
	if c.Exporters.CertificationBody != nil {
		c.Exporters.CertificationBody.SetDefaults()
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	c.Telemetry.SetDefaults()
}

// Validate reports every problem at once, each prefixed by its YAML path.
func (c *Config) Validate() error {
	var errs []error
	add := func(path string, err error) {
		if err == nil {
			return
		}
		// A component's Validate joins its problems; prefix each one.
		for _, line := range strings.Split(err.Error(), "\n") {
			errs = append(errs, fmt.Errorf("%s%s", path, line))
		}
	}
	if strings.TrimSpace(c.Service) == "" {
		add("service: ", errors.New("must name the cloud service under certification"))
	}
	if _, err := controls.ParseLevel(c.Level); err != nil {
		add("level: ", fmt.Errorf("%q is not one of basic, substantial, high", c.Level))
	}
	if _, err := c.Cron(); err != nil {
		add("", err)
	}
	if c.Signing.Key == "" {
		add("signing.key: ", errors.New("must name a private key file (create one with `eucs-agent keygen`)"))
	} else {
		add("signing.key: ", signer.Validate(c.Signing.Key))
	}
	if c.Collectors.AWS == nil && c.Collectors.Azure == nil && c.Collectors.GCP == nil {
		add("collectors: ", errors.New("no collector is configured; add an aws, azure or gcp block"))
	}
	if c.Collectors.AWS != nil {
		add("collectors.aws.", c.Collectors.AWS.Validate())
	}
	if c.Collectors.Azure != nil {
		add("collectors.azure.", c.Collectors.Azure.Validate())
	}
	if c.Collectors.GCP != nil {
		add("collectors.gcp.", c.Collectors.GCP.Validate())
	}
	if c.Shard != nil {
		add("shard.", c.Shard.Validate())
	}
	if c.Parts.MaxFindings < 0 {
		add("parts.max_findings: ", fmt.Errorf("must not be negative, got %d", c.Parts.MaxFindings))
	}
	if c.Parts.MaxBytes < MinPartBytes {
		add("parts.max_bytes: ", fmt.Errorf("must be at least %d bytes (4KiB), got %d", MinPartBytes, c.Parts.MaxBytes))
	}
	add("exporters.directory.", c.Exporters.Directory.Validate())
	if c.Exporters.CertificationBody != nil {
		add("exporters.certification_body.", c.Exporters.CertificationBody.Validate())
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level: ", fmt.Errorf("%q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add("log.format: ", fmt.Errorf("%q is not one of json, text", c.Log.Format))
	}
	add("telemetry.", c.Telemetry.Validate())
	return errors.Join(errs...)
}

// Cron parses the schedule in the configured time zone.
func (c *Config) Cron() (cron.Schedule, error) {
	loc := time.UTC
	if c.Timezone != "" {
		l, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timezone: %q is not a known IANA time zone", c.Timezone)
		}
		loc = l
	}
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := p.Parse(c.Schedule)
	if err != nil {
		return nil, fmt.Errorf("schedule: %q: %w", c.Schedule, err)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	return s, nil
}

// KeyPath returns the signing key's file path.
func (c *Config) KeyPath() string { return strings.TrimPrefix(c.Signing.Key, "file://") }

// TargetLevel returns the parsed target level.
func (c *Config) TargetLevel() controls.Level {
	l, _ := controls.ParseLevel(c.Level)
	return l
}

// Chain is the id of the chain this agent keeps: bundle.ShardChain(index)
// when the top-level shard splits the estate, "" otherwise. Collector
// shard blocks alone do not name a chain.
func (c *Config) Chain() string {
	if c.Shard == nil || c.Shard.Count <= 1 {
		return ""
	}
	return bundle.ShardChain(c.Shard.Index)
}

// inheritShard is a collector's shard: its own block if it has one, else a
// copy of the top-level one. An invalid top-level shard is not inherited,
// so it is reported once, as shard.*, not again under every collector.
func inheritShard(top, own *collectors.Shard) *collectors.Shard {
	if own != nil || top == nil || top.Validate() != nil {
		return own
	}
	shard := *top
	return &shard
}
