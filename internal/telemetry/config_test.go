package telemetry

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{OTLP: &OTLP{Endpoint: "https://otel:4318"}}
	c.SetDefaults()
	if c.Listen != ":9464" || c.ServiceName != "eucs-agent" || c.OTLP.Interval != time.Minute {
		t.Errorf("defaults: %+v %+v", c, c.OTLP)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaulted config invalid: %v", err)
	}
}

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"listen without port", Config{Listen: "localhost"}, `listen: "localhost" is not a host:port address (e.g. ":9464")`},
		{"no endpoint", Config{OTLP: &OTLP{}}, "otlp.endpoint: must name the collector's OTLP/HTTP base URL (e.g. https://otel-collector:4318)"},
		{"not a URL", Config{OTLP: &OTLP{Endpoint: "otel:4318"}}, `otlp.endpoint: "otel:4318" is not an http(s) URL with a host`},
		{"credentials in URL", Config{OTLP: &OTLP{Endpoint: "https://u:hunter2@otel:4318"}}, "otlp.endpoint: must not carry credentials; put them in the variable headers_env names"},
		{"clear text", Config{OTLP: &OTLP{Endpoint: "http://otel:4318"}}, `otlp.endpoint: "http://otel:4318" is plain http; use https or set otlp.insecure: true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.SetDefaults()
			err := tc.cfg.Validate()
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Error("the error repeats the password")
			}
		})
	}
}

func TestHeadersNeverQuoteTheirValues(t *testing.T) {
	o := &OTLP{HeadersEnv: "EUCS_TEST_HEADERS"}
	t.Setenv("EUCS_TEST_HEADERS", "Authorization=Bearer%20abc, x-tenant = t1")
	h, err := o.headers()
	if err != nil {
		t.Fatal(err)
	}
	if h["Authorization"] != "Bearer abc" || h["x-tenant"] != "t1" {
		t.Errorf("headers %v", h)
	}
	t.Setenv("EUCS_TEST_HEADERS", "Authorization=ok,topsecretvalue")
	_, err = o.headers()
	if err == nil || err.Error() != "otlp.headers_env: entry 2 of EUCS_TEST_HEADERS is not key=value" {
		t.Errorf("got %v", err)
	}
	t.Setenv("EUCS_TEST_HEADERS", "")
	if _, err := o.headers(); err == nil || err.Error() != "otlp.headers_env: environment variable EUCS_TEST_HEADERS is unset or empty" {
		t.Errorf("got %v", err)
	}
}
