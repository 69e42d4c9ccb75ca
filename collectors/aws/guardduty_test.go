package aws

import (
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// detectorSubject is the subject of guardduty.enabled in eu-west-1.
const detectorSubject = "arn:aws:guardduty:eu-west-1:111111111111:detector"

func TestGuardDutyEnabled(t *testing.T) {
	enabled := func(e *awssim.Estate) { mainRegion(e).GuardDuty = true }
	listing := func(k awssim.FaultKind) []awssim.Fault {
		return []awssim.Fault{{Service: "guardduty", Action: "ListDetectors", Kind: k, Delay: 5 * time.Second}}
	}
	runSimCases(t, []simCase{
		{
			name:     "enabled detector passes",
			setup:    enabled,
			check:    checkGuardDuty,
			resource: detectorSubject,
			status:   finding.Pass,
			observed: map[string]any{"status": "ENABLED"},
		},
		{
			name:     "region without a detector fails",
			check:    checkGuardDuty,
			resource: detectorSubject,
			status:   finding.Fail,
			observed: map[string]any{"detector_ids": []any{}},
			detail:   "no detector",
		},
		{
			name:     "suspended detector fails",
			setup:    func(e *awssim.Estate) { mainRegion(e).GuardDutySuspended = true },
			check:    checkGuardDuty,
			resource: detectorSubject,
			status:   finding.Fail,
			detail:   "suspended",
		},
		{
			name:     "denied detector is not assessed",
			setup:    enabled,
			faults:   []awssim.Fault{{Service: "guardduty", Action: "GetDetector", Kind: awssim.AccessDenied}},
			check:    checkGuardDuty,
			resource: detectorSubject,
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
			detail:   "get GuardDuty detector",
		},
		{
			name:     "throttled listing leaves the scope not assessed",
			setup:    enabled,
			faults:   listing(awssim.Throttle),
			check:    checkGuardDuty,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.Throttled,
		},
		{
			name:     "failing listing leaves the scope not assessed",
			setup:    enabled,
			faults:   listing(awssim.ServerError),
			check:    checkGuardDuty,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "malformed listing leaves the scope not assessed",
			setup:    enabled,
			faults:   listing(awssim.Malformed),
			check:    checkGuardDuty,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "listing slower than the scope timeout is not assessed",
			setup:    enabled,
			faults:   listing(awssim.Slow),
			config:   func(c *Config) { c.ScopeTimeout = 300 * time.Millisecond },
			check:    checkGuardDuty,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
	})
}
