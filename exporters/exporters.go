// Package exporters defines where signed evidence bundles go once a run is
// sealed: a local directory, an archive, the certification body. Each
// exporter lives in its own sub-package and never imports another.
package exporters

import "context"

// Bundle is one sealed, signed run.
type Bundle struct {
	// Sequence is the bundle's position in the chain, from 1.
	Sequence uint64
	// Digest is the lowercase hex sha256 of the bundle's payload; the next
	// bundle names it as its previous.
	Digest string
	// Envelope is the DSSE envelope, JSON, exactly as signed.
	Envelope []byte
	// Parts, for a run too large for one bundle, are the paths of its part
	// files in the evidence directory, in order; Envelope is then the run's
	// manifest, which names each part by payload digest. Every part is on
	// disk before any exporter sees the manifest. Empty for a run sealed as
	// one bundle.
	Parts []string
}

// Exporter delivers bundles somewhere.
type Exporter interface {
	// Name identifies the exporter in logs and errors.
	Name() string
	// Export delivers b. Delivering the same bundle twice must be harmless.
	Export(ctx context.Context, b Bundle) error
}

// Runner is implemented by exporters that deliver in the background, such
// as the certification body's outbox. The agent starts Run before its first
// run and cancels ctx after its last, so nothing a run exports is left
// without a deliverer while the agent is up. Run returns when ctx is done;
// whatever it has not delivered stays queued on disk.
type Runner interface {
	Run(ctx context.Context) error
}

// Flusher is implemented by exporters that queue bundles. A one-shot agent
// (`eucs-agent collect`) calls Flush once after its run: it tries to
// deliver what is queued within the exporter's own deadline and leaves the
// rest for the next run.
type Flusher interface {
	Flush(ctx context.Context) error
}
