package azure

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// goodDiagnosticSetting exports what the activity log check asks for.
func goodDiagnosticSetting() azuresim.DiagnosticSetting {
	return azuresim.DiagnosticSetting{Name: "to-law", Categories: []string{"Administrative", "Security", "Policy"},
		WorkspaceID: resID("Microsoft.OperationalInsights/workspaces", "law")}
}

func withSettings(ds ...azuresim.DiagnosticSetting) func(*azuresim.Estate) {
	return func(e *azuresim.Estate) { home(e).DiagnosticSettings = ds }
}

func TestActivityLogExport(t *testing.T) {
	subject := "/subscriptions/" + sub1
	adminOnly := goodDiagnosticSetting()
	adminOnly.Categories = []string{"Administrative"}
	securityToStorage := azuresim.DiagnosticSetting{Name: "to-storage", Categories: []string{"Security"},
		StorageAccountID: resID("Microsoft.Storage/storageAccounts", "stlogs")}
	nowhere := goodDiagnosticSetting()
	nowhere.WorkspaceID = ""
	runSimCases(t, []simCase{
		{name: "Administrative and Security exported passes", setup: withSettings(goodDiagnosticSetting()),
			check: checkActivityLogExport, resource: subject, status: finding.Pass,
			observed: map[string]any{"diagnostic_settings": []any{map[string]any{"name": "to-law",
				"categories": []any{"Administrative", "Security", "Policy"}, "destinations": []any{"log_analytics"}}}}},
		{name: "categories split over two settings pass", setup: withSettings(adminOnly, securityToStorage),
			check: checkActivityLogExport, resource: subject, status: finding.Pass},
		{name: "no diagnostic setting fails", check: checkActivityLogExport, resource: subject, status: finding.Fail,
			detail: "90 days", observed: map[string]any{"diagnostic_settings": []any{}}},
		{name: "Security left out fails", setup: withSettings(adminOnly),
			check: checkActivityLogExport, resource: subject, status: finding.Fail, detail: "leaves out the Security category",
			observed: map[string]any{"missing_categories": []any{"Security"}}},
		{name: "a setting without destination exports nothing", setup: withSettings(nowhere),
			check: checkActivityLogExport, resource: subject, status: finding.Fail,
			observed: map[string]any{"missing_categories": []any{"Administrative", "Security"}}},
		{name: "denied listing is not assessed", setup: withSettings(goodDiagnosticSetting()),
			faults: []azuresim.Fault{{Service: "monitor", Kind: azuresim.AccessDenied}},
			check:  checkActivityLogExport, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
	})
}
