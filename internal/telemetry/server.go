package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Schedule says when the next run is due; robfig/cron's Schedule is one.
type Schedule interface {
	Next(time.Time) time.Time
}

// readiness is what /readyz decides on. Guarded by Telemetry.mu.
type readiness struct {
	// started is when the agent came up: before its first sealed run it is
	// ready for two schedule periods from here.
	started     time.Time
	lastSuccess time.Time
	// armed is set once the config is loaded (SetReadiness).
	armed    bool
	schedule Schedule
	keyProbe func() error
}

// SetReadiness arms /readyz once the config is loaded: keyProbe reports
// whether the signing key is usable (it is called on every probe, so it
// must be cheap and must not block), and schedule is the daemon's, against
// which a last sealed run is judged too old after two periods.
func (t *Telemetry) SetReadiness(schedule Schedule, keyProbe func() error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ready.armed = true
	t.ready.schedule = schedule
	t.ready.keyProbe = keyProbe
}

// Readiness is /readyz's answer.
type Readiness struct {
	Ready bool `json:"ready"`
	// Checks maps each check (config, signing_key, last_run) to "ok" or
	// the reason it fails.
	Checks map[string]string `json:"checks"`
}

// Ready evaluates the readiness checks now.
func (t *Telemetry) Ready() Readiness {
	t.mu.Lock()
	r := t.ready
	t.mu.Unlock()
	out := Readiness{Ready: true, Checks: map[string]string{"config": "ok", "signing_key": "ok", "last_run": "ok"}}
	fail := func(check, why string) {
		out.Ready = false
		out.Checks[check] = why
	}
	if !r.armed {
		fail("config", "not loaded yet")
		fail("signing_key", "not checked: no config")
		fail("last_run", "not checked: no config")
		return out
	}
	if r.keyProbe != nil {
		if err := r.keyProbe(); err != nil {
			fail("signing_key", err.Error())
		}
	}
	now := t.now()
	if r.schedule != nil {
		next := r.schedule.Next(now)
		limit := 2 * r.schedule.Next(next).Sub(next)
		switch {
		case r.lastSuccess.IsZero() && now.Sub(r.started) > limit:
			fail("last_run", fmt.Sprintf("no run sealed in the %s since the agent started (two schedule periods)", now.Sub(r.started).Round(time.Second)))
		case !r.lastSuccess.IsZero() && now.Sub(r.lastSuccess) > limit:
			fail("last_run", fmt.Sprintf("the last sealed run is %s old, more than two schedule periods (%s)",
				now.Sub(r.lastSuccess).Round(time.Second), limit))
		}
	}
	return out
}

// Handler serves /metrics (the private registry), /healthz (the process is
// up) and /readyz (see Ready: 200 when ready, 503 and the reasons if not).
func (t *Telemetry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := t.Ready()
		w.Header().Set("Content-Type", "application/json")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(r)
	})
	return mux
}

// server is the running HTTP server.
type server struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// Start listens on the configured address and serves Handler in the
// background until Shutdown. A port already in use is reported here, at
// startup, not later in a log line.
func (t *Telemetry) Start() error {
	t.serverMu.Lock()
	defer t.serverMu.Unlock()
	if t.server != nil {
		return errors.New("telemetry server already started")
	}
	ln, err := net.Listen("tcp", t.cfg.Listen)
	if err != nil {
		return fmt.Errorf("telemetry.listen: %w", err)
	}
	s := &server{
		// net/http's own complaints (a client hanging up, say)
		// go to the agent's log, not to stderr unformatted.
		srv: &http.Server{Handler: t.Handler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(t.log.Handler(), slog.LevelWarn)},
		addr: ln.Addr(),
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	t.server = s
	t.log.Info("serving /metrics, /healthz and /readyz", "address", s.addr.String())
	return nil
}

// Addr is the address the server listens on, or "" before Start.
func (t *Telemetry) Addr() string {
	t.serverMu.Lock()
	defer t.serverMu.Unlock()
	if t.server == nil {
		return ""
	}
	return t.server.addr.String()
}

func (s *server) shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop telemetry server: %w", err)
	}
	if err := <-s.done; err != nil {
		return fmt.Errorf("telemetry server: %w", err)
	}
	return nil
}
