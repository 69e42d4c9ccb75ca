package azure

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// goodAccount satisfies every storage check.
func goodAccount() azuresim.StorageAccount {
	return azuresim.StorageAccount{
		Name: "stgood", ResourceGroup: group, Location: loc,
		HTTPSOnly: true, MinTLS: "TLS1_2", AllowBlobPublicAccess: ptr(false), InfrastructureEncryption: true,
		KeyVaultKey: "cmk", KeyVaultURI: "https://kv-test.vault.azure.net/",
	}
}

// withAccount puts one account, goodAccount changed by mutate, in the
// estate.
func withAccount(mutate func(*azuresim.StorageAccount)) func(*azuresim.Estate) {
	return func(e *azuresim.Estate) {
		a := goodAccount()
		if mutate != nil {
			mutate(&a)
		}
		home(e).StorageAccounts = []azuresim.StorageAccount{a}
	}
}

func TestStorageAccountChecks(t *testing.T) {
	acct := resID("Microsoft.Storage/storageAccounts", "stgood")
	denied := []azuresim.Fault{{Service: "storage", Operation: "StorageAccounts_List", Kind: azuresim.AccessDenied}}
	cases := []simCase{
		{name: "secure transfer required passes", setup: withAccount(nil),
			check: checkStorageSecureTransfer, resource: acct, status: finding.Pass,
			observed: map[string]any{"supports_https_traffic_only": true}},
		{name: "plain HTTP allowed fails", setup: withAccount(func(a *azuresim.StorageAccount) { a.HTTPSOnly = false }),
			check: checkStorageSecureTransfer, resource: acct, status: finding.Fail, detail: "plain HTTP",
			observed: map[string]any{"supports_https_traffic_only": false}},

		{name: "TLS 1.2 minimum passes", setup: withAccount(nil),
			check: checkStorageMinTLS, resource: acct, status: finding.Pass, detail: "TLS1.2",
			observed: map[string]any{"minimum_tls_version": "TLS1_2"}},
		{name: "TLS 1.3 minimum passes", setup: withAccount(func(a *azuresim.StorageAccount) { a.MinTLS = "TLS1_3" }),
			check: checkStorageMinTLS, resource: acct, status: finding.Pass},
		{name: "TLS 1.0 minimum fails", setup: withAccount(func(a *azuresim.StorageAccount) { a.MinTLS = "TLS1_0" }),
			check: checkStorageMinTLS, resource: acct, status: finding.Fail,
			observed: map[string]any{"minimum_tls_version": "TLS1_0"}},
		{name: "unset minimum TLS version fails as TLS 1.0", setup: withAccount(func(a *azuresim.StorageAccount) { a.MinTLS = "" }),
			check: checkStorageMinTLS, resource: acct, status: finding.Fail,
			observed: map[string]any{"minimum_tls_version": "unset"}},

		{name: "public blob access disallowed passes", setup: withAccount(nil),
			check: checkStoragePublicBlob, resource: acct, status: finding.Pass,
			observed: map[string]any{"allow_blob_public_access": false}},
		{name: "public blob access allowed fails", setup: withAccount(func(a *azuresim.StorageAccount) { a.AllowBlobPublicAccess = ptr(true) }),
			check: checkStoragePublicBlob, resource: acct, status: finding.Fail,
			observed: map[string]any{"allow_blob_public_access": true}},
		{name: "unset public blob access fails as allowed", setup: withAccount(func(a *azuresim.StorageAccount) { a.AllowBlobPublicAccess = nil }),
			check: checkStoragePublicBlob, resource: acct, status: finding.Fail, detail: "not set",
			observed: map[string]any{"allow_blob_public_access": "unset"}},

		{name: "infrastructure encryption passes", setup: withAccount(nil),
			check: checkStorageInfraEncrypt, resource: acct, status: finding.Pass,
			observed: map[string]any{"require_infrastructure_encryption": true}},
		{name: "single encryption layer fails", setup: withAccount(func(a *azuresim.StorageAccount) { a.InfrastructureEncryption = false }),
			check: checkStorageInfraEncrypt, resource: acct, status: finding.Fail,
			observed: map[string]any{"require_infrastructure_encryption": false}},

		{name: "customer-managed key passes", setup: withAccount(nil),
			check: checkStorageCMK, resource: acct, status: finding.Pass,
			observed: map[string]any{"key_source": "Microsoft.Keyvault", "key_name": "cmk", "key_vault_uri": "https://kv-test.vault.azure.net/"}},
		{name: "Microsoft-managed key fails", setup: withAccount(func(a *azuresim.StorageAccount) { a.KeyVaultKey = "" }),
			check: checkStorageCMK, resource: acct, status: finding.Fail, detail: "Microsoft-managed",
			observed: map[string]any{"key_source": "Microsoft.Storage"}},
	}
	for _, check := range storageChecks() {
		cases = append(cases,
			simCase{name: check + " without accounts is not applicable", check: check, resource: "*", status: finding.NotApplicable},
			simCase{name: check + " denied listing is not assessed", setup: withAccount(nil), faults: denied,
				check: check, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied, detail: "AuthorizationFailed"},
		)
	}
	runSimCases(t, cases)
}
