package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
)

// checkActivityLogExport is the Azure Monitor check ID.
const checkActivityLogExport = "azure.monitor.activity_log_export"

// activityLogCategories are the activity log categories that must leave the
// subscription: control-plane writes and Defender alerts. Azure keeps the
// activity log for 90 days only, and a subscription owner can read it.
func activityLogCategories() []string { return []string{"Administrative", "Security"} }

// diagnosticSettingsAPI names the Azure Monitor call the check makes.
type diagnosticSettingsAPI interface {
	NewListPager(resourceURI string, options *armmonitor.DiagnosticSettingsClientListOptions) *runtime.Pager[armmonitor.DiagnosticSettingsClientListResponse]
}

// monitorScanner checks that the subscription's activity log is exported by
// a subscription-level diagnostic setting.
func monitorScanner() scanner {
	return scanner{
		service: "monitor",
		checks:  []string{checkActivityLogExport},
		scan: func(ctx context.Context, s *scope) error {
			client, err := armmonitor.NewDiagnosticSettingsClient(s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create diagnostic settings client: %w", err)
			}
			return scanActivityLog(ctx, s, client)
		},
	}
}

// scanActivityLog passes when the diagnostic settings with a destination
// export, between them, every category of activityLogCategories. The
// subject is the subscription itself.
func scanActivityLog(ctx context.Context, s *scope, api diagnosticSettingsAPI) error {
	subject := "/subscriptions/" + s.subscription
	exported := map[string]bool{}
	settings := []any{}
	for p := api.NewListPager("subscriptions/"+s.subscription, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list activity log diagnostic settings of %s: %w", s.subscription, err)
		}
		for _, d := range page.Value {
			if d == nil || d.Properties == nil {
				continue
			}
			dest := destinations(d.Properties)
			cats := []any{}
			for _, l := range d.Properties.Logs {
				if l == nil || l.Enabled == nil || !*l.Enabled {
					continue
				}
				// allLogs is the category group of every category.
				if strings.EqualFold(str(l.CategoryGroup), "allLogs") {
					for _, c := range activityLogCategories() {
						cats = append(cats, c)
					}
				}
				if l.Category != nil {
					cats = append(cats, *l.Category)
				}
			}
			settings = append(settings, map[string]any{"name": str(d.Name), "categories": cats, "destinations": dest})
			if len(dest) == 0 {
				continue
			}
			for _, c := range cats {
				exported[strings.ToLower(c.(string))] = true
			}
		}
	}
	var missing []any
	for _, c := range activityLogCategories() {
		if !exported[strings.ToLower(c)] {
			missing = append(missing, c)
		}
	}
	observed := map[string]any{"diagnostic_settings": settings}
	switch {
	case len(settings) == 0:
		return s.verdict(ctx, checkActivityLogExport, subject, "", false,
			"no diagnostic setting exports the activity log, which Azure keeps for 90 days only", observed)
	case len(missing) > 0:
		observed["missing_categories"] = missing
		return s.verdict(ctx, checkActivityLogExport, subject, "", false,
			"the activity log export leaves out the "+joinAny(missing)+" category", observed)
	}
	return s.verdict(ctx, checkActivityLogExport, subject, "", true,
		"Administrative and Security activity log events are exported", observed)
}

// destinations names where a diagnostic setting sends its data.
func destinations(p *armmonitor.DiagnosticSettings) []any {
	out := []any{}
	for kind, id := range map[string]*string{
		"log_analytics": p.WorkspaceID, "storage": p.StorageAccountID,
		"event_hub": p.EventHubAuthorizationRuleID, "partner": p.MarketplacePartnerID,
	} {
		if str(id) != "" {
			out = append(out, kind)
		}
	}
	slices.SortFunc(out, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	return out
}

func joinAny(xs []any) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, " and ")
}
