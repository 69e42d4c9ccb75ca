package cab

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the `exporters.certification_body` block of agent.yaml.
type Config struct {
	// URL is the receiver's base address, https only; bundles are POSTed to
	// URL + /v1/bundles.
	URL string `yaml:"url"`
	// ClientCert and ClientKey are the PEM files of the agent's client
	// certificate for mutual TLS; the receiver maps it to the tenant.
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
	// CA is a PEM bundle of the CAs the receiver's server certificate may
	// chain to; empty means the system roots.
	CA string `yaml:"ca"`
	// TokenFile or TokenEnv name where an optional bearer token is read
	// from (for a gateway in front of the receiver). The token itself is
	// never written to the config, a log or an error.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	// ReceiverKey is the receiver's receipt public key (PEM); when set,
	// every receipt's signature is checked before a bundle leaves the
	// outbox.
	ReceiverKey string `yaml:"receiver_key"`
	// Outbox is the directory bundles wait in until the receiver
	// acknowledges them.
	Outbox string `yaml:"outbox"`
	// Receipts is the directory the receiver's signed receipts are kept in,
	// one per delivered bundle.
	Receipts string `yaml:"receipts"`
	// MaxOutboxBundles and MaxOutboxBytes bound the outbox; when either is
	// reached, new bundles stay in the evidence directory only and are
	// queued from there once there is room.
	MaxOutboxBundles int      `yaml:"max_outbox_bundles"`
	MaxOutboxBytes   ByteSize `yaml:"max_outbox_bytes"`
	// RequestTimeout bounds one delivery request, connection included.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// FlushTimeout bounds the one delivery pass `eucs-agent collect` makes
	// after its run.
	FlushTimeout time.Duration `yaml:"flush_timeout"`
	// BackoffMin and BackoffMax bound the exponential backoff (with jitter)
	// between failed deliveries.
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
}

// Defaults set in code.
const (
	DefaultOutbox           = "outbox"
	DefaultReceipts         = "receipts"
	DefaultMaxOutboxBundles = 1000
	DefaultMaxOutboxBytes   = ByteSize(1 << 30)
	DefaultRequestTimeout   = 60 * time.Second
	DefaultFlushTimeout     = 30 * time.Second
	DefaultBackoffMin       = time.Second
	DefaultBackoffMax       = 5 * time.Minute
)

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Outbox == "" {
		c.Outbox = DefaultOutbox
	}
	if c.Receipts == "" {
		c.Receipts = DefaultReceipts
	}
	if c.MaxOutboxBundles == 0 {
		c.MaxOutboxBundles = DefaultMaxOutboxBundles
	}
	if c.MaxOutboxBytes == 0 {
		c.MaxOutboxBytes = DefaultMaxOutboxBytes
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
}

// Validate reports every problem at once, each prefixed by its YAML path
// relative to this block.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.URL == "" {
		add("url", "must name the receiver, like https://cab.example.eu:8443")
	} else if u, err := url.Parse(c.URL); err != nil {
		add("url", "%q is not a URL", c.URL)
	} else {
		switch {
		case u.Scheme != "https":
			add("url", "%q must start with https://; evidence goes to the certification body over mutual TLS only", c.URL)
		case u.Host == "":
			add("url", "%q names no host", c.URL)
		case u.User != nil:
			// A password here would end up in logs and errors.
			add("url", "must not carry credentials; use token_file or token_env")
		case u.RawQuery != "" || u.Fragment != "":
			add("url", "%q must not have a query or fragment", c.URL)
		}
	}
	if strings.TrimSpace(c.ClientCert) == "" {
		add("client_cert", "must name the agent's client certificate (PEM) for mutual TLS")
	}
	if strings.TrimSpace(c.ClientKey) == "" {
		add("client_key", "must name the client certificate's private key (PEM) for mutual TLS")
	}
	if c.TokenFile != "" && c.TokenEnv != "" {
		add("token_env", "set together with token_file; choose one")
	}
	if strings.TrimSpace(c.Outbox) == "" {
		add("outbox", "must name a directory")
	}
	if strings.TrimSpace(c.Receipts) == "" {
		add("receipts", "must name a directory")
	}
	if c.MaxOutboxBundles < 0 {
		add("max_outbox_bundles", "must be positive, got %d", c.MaxOutboxBundles)
	}
	if c.MaxOutboxBytes < 0 {
		add("max_outbox_bytes", "must be positive, got %d", c.MaxOutboxBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"request_timeout", c.RequestTimeout},
		{"flush_timeout", c.FlushTimeout},
		{"backoff_min", c.BackoffMin},
		{"backoff_max", c.BackoffMax},
	} {
		if d.v < 0 {
			add(d.key, "must be positive, got %s", d.v)
		}
	}
	if c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffMin {
		add("backoff_max", "%s is shorter than backoff_min %s", c.BackoffMax, c.BackoffMin)
	}
	return errors.Join(errs...)
}

// ByteSize is a size in bytes, written in YAML as a number of bytes or with
// a unit: 512MiB, 2GiB, 100MB.
type ByteSize int64

var units = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseByteSize reads a size such as 1073741824, 512MiB or 2GB.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (bytes, or a whole number with KB, MB, GB, KiB, MiB or GiB)", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML accepts a plain number of bytes or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a size must be a number or a string like 512MiB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// String prints the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}
