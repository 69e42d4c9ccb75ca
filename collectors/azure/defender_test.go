package azure

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

func TestDefenderPlans(t *testing.T) {
	plan := func(name string) string {
		return "/subscriptions/" + sub1 + "/providers/Microsoft.Security/pricings/" + name
	}
	withPlans := func(e *azuresim.Estate) {
		home(e).DefenderPlans = []azuresim.DefenderPlan{
			{Name: "VirtualMachines", Standard: true, SubPlan: "P2"},
			{Name: "StorageAccounts"},
			{Name: "Dns", Deprecated: true},
		}
	}
	runSimCases(t, []simCase{
		{name: "Standard tier passes", setup: withPlans,
			check: checkDefenderPlan, resource: plan("VirtualMachines"), status: finding.Pass,
			observed: map[string]any{"plan": "VirtualMachines", "pricing_tier": "Standard", "sub_plan": "P2"}},
		{name: "Free tier fails", setup: withPlans,
			check: checkDefenderPlan, resource: plan("StorageAccounts"), status: finding.Fail, detail: "Defender for StorageAccounts is off",
			observed: map[string]any{"pricing_tier": "Free"}},
		{name: "deprecated plan is not applicable", setup: withPlans,
			check: checkDefenderPlan, resource: plan("Dns"), status: finding.NotApplicable, detail: "deprecated"},
		{name: "no plans is not applicable", check: checkDefenderPlan, resource: "*", status: finding.NotApplicable},
		{name: "denied listing is not assessed", setup: withPlans,
			faults: []azuresim.Fault{{Service: "defender", Kind: azuresim.AccessDenied}},
			check:  checkDefenderPlan, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
	})
}
