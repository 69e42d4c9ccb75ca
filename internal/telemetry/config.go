package telemetry

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the telemetry block of agent.yaml.
type Config struct {
	// Listen is the address /metrics, /healthz and /readyz are served on.
	// `eucs-agent run` always serves it (Kubernetes probes it); `collect`
	// only with --linger.
	Listen string `yaml:"listen"`
	// ServiceName is the OpenTelemetry service.name of the agent's traces
	// and metrics.
	ServiceName string `yaml:"service_name"`
	// OTLP, when set, also pushes traces and metrics to an OpenTelemetry
	// collector over OTLP/HTTP.
	OTLP *OTLP `yaml:"otlp"`
}

// OTLP configures the OTLP/HTTP exporters.
type OTLP struct {
	// Endpoint is the collector's base URL, e.g. https://otel-collector:4318;
	// traces go to /v1/traces and metrics to /v1/metrics below it.
	Endpoint string `yaml:"endpoint"`
	// Insecure allows an http:// endpoint: telemetry then travels in clear
	// text, which must be a deliberate choice.
	Insecure bool `yaml:"insecure"`
	// HeadersEnv names an environment variable holding request headers as
	// key=value pairs separated by commas (OTEL_EXPORTER_OTLP_HEADERS'
	// format), so that an API token never sits in the config file.
	HeadersEnv string `yaml:"headers_env"`
	// Interval is how often metrics are pushed.
	Interval time.Duration `yaml:"interval"`
}

// Defaults set in code.
const (
	DefaultListen      = ":9464"
	DefaultServiceName = "eucs-agent"
	DefaultInterval    = time.Minute
)

// SetDefaults fills every unset field.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
	if c.OTLP != nil && c.OTLP.Interval == 0 {
		c.OTLP.Interval = DefaultInterval
	}
}

// Validate reports every problem at once, each prefixed by its YAML path
// below the telemetry block.
func (c *Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("listen: %q is not a host:port address (e.g. \":9464\")", c.Listen))
	}
	if strings.TrimSpace(c.ServiceName) == "" {
		errs = append(errs, errors.New("service_name: must not be blank"))
	}
	if o := c.OTLP; o != nil {
		u, err := url.Parse(o.Endpoint)
		switch {
		case o.Endpoint == "":
			errs = append(errs, errors.New("otlp.endpoint: must name the collector's OTLP/HTTP base URL (e.g. https://otel-collector:4318)"))
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			errs = append(errs, fmt.Errorf("otlp.endpoint: %q is not an http(s) URL with a host", o.Endpoint))
		case u.User != nil:
			errs = append(errs, errors.New("otlp.endpoint: must not carry credentials; put them in the variable headers_env names"))
		case u.Scheme == "http" && !o.Insecure:
			errs = append(errs, fmt.Errorf("otlp.endpoint: %q is plain http; use https or set otlp.insecure: true", o.Endpoint))
		}
		if o.Interval < time.Second {
			errs = append(errs, fmt.Errorf("otlp.interval: %s is below the minimum of 1s", o.Interval))
		}
	}
	return errors.Join(errs...)
}

// headers reads the OTLP headers from the variable HeadersEnv names. The
// values are secrets: errors name the variable and the position, never a
// value.
func (o *OTLP) headers() (map[string]string, error) {
	if o.HeadersEnv == "" {
		return nil, nil
	}
	raw, ok := os.LookupEnv(o.HeadersEnv)
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("otlp.headers_env: environment variable %s is unset or empty", o.HeadersEnv)
	}
	h := map[string]string{}
	for i, pair := range strings.Split(raw, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("otlp.headers_env: entry %d of %s is not key=value", i+1, o.HeadersEnv)
		}
		if dv, err := url.QueryUnescape(strings.TrimSpace(v)); err == nil {
			v = dv
		}
		h[k] = strings.TrimSpace(v)
	}
	return h, nil
}
