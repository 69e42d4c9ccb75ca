package azure

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity"
)

// checkDefenderPlan is the Defender for Cloud check ID.
const checkDefenderPlan = "azure.defender.plan_enabled"

// pricingsAPI names the Defender for Cloud call the check makes.
type pricingsAPI interface {
	List(ctx context.Context, scopeID string, options *armsecurity.PricingsClientListOptions) (armsecurity.PricingsClientListResponse, error)
}

// defenderScanner checks that every Defender for Cloud plan of the
// subscription is on the Standard tier, which turns on threat detection for
// that resource type.
func defenderScanner() scanner {
	return scanner{
		service: "defender",
		checks:  []string{checkDefenderPlan},
		scan: func(ctx context.Context, s *scope) error {
			client, err := armsecurity.NewPricingsClient(s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create Defender for Cloud client: %w", err)
			}
			return scanDefender(ctx, s, client)
		},
	}
}

func scanDefender(ctx context.Context, s *scope, api pricingsAPI) error {
	out, err := api.List(ctx, "subscriptions/"+s.subscription, nil)
	if err != nil {
		return fmt.Errorf("list Defender for Cloud plans of %s: %w", s.subscription, err)
	}
	n := 0
	for _, p := range out.Value {
		if p == nil || p.ID == nil {
			continue
		}
		n++
		if err := checkDefenderPricing(ctx, s, p); err != nil {
			return err
		}
	}
	if n == 0 {
		return s.notApplicable(ctx, checkDefenderPlan, "*", "", "Defender for Cloud reports no plans for the subscription")
	}
	return nil
}

// checkDefenderPricing decides one plan. A deprecated plan can no longer be
// enabled (its protection moved to another plan) and is not judged.
func checkDefenderPricing(ctx context.Context, s *scope, p *armsecurity.Pricing) error {
	name := str(p.Name)
	var props armsecurity.PricingProperties
	if p.Properties != nil {
		props = *p.Properties
	}
	if props.Deprecated != nil && *props.Deprecated {
		return s.notApplicable(ctx, checkDefenderPlan, *p.ID, "", "the "+name+" plan is deprecated")
	}
	tier := string(armsecurity.PricingTierFree)
	if props.PricingTier != nil {
		tier = string(*props.PricingTier)
	}
	on := strings.EqualFold(tier, string(armsecurity.PricingTierStandard))
	observed := map[string]any{"plan": name, "pricing_tier": tier}
	detail := fmt.Sprintf("Defender for %s is off (Free tier)", name)
	if on {
		detail = fmt.Sprintf("Defender for %s is on (Standard tier)", name)
		if props.SubPlan != nil {
			observed["sub_plan"] = *props.SubPlan
		}
	}
	return s.verdict(ctx, checkDefenderPlan, *p.ID, "", on, detail, observed)
}
