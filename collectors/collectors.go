// Package collectors defines what every cloud collector is: something that,
// given a context, streams findings and coverage records into a sink. Each
// provider lives in its own sub-package and never imports another.
package collectors

import (
	"context"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Collector assesses one cloud provider's estate.
type Collector interface {
	// Name is the provider name, as in findings ("aws", "gcp", "azure").
	Name() string
	// Collect streams every finding and coverage record into sink. It
	// returns an error only when the sink fails or ctx ends; cloud-side
	// failures become not_assessed findings instead.
	Collect(ctx context.Context, sink finding.Sink) error
}
