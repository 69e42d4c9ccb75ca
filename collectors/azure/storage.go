package azure

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
)

// Storage account check IDs.
const (
	checkStorageSecureTransfer = "azure.storage.secure_transfer"
	checkStorageMinTLS         = "azure.storage.min_tls_version"
	checkStoragePublicBlob     = "azure.storage.public_blob_access"
	checkStorageInfraEncrypt   = "azure.storage.infrastructure_encryption"
	checkStorageCMK            = "azure.storage.cmk_encryption"
)

func storageChecks() []string {
	return []string{checkStorageSecureTransfer, checkStorageMinTLS, checkStoragePublicBlob, checkStorageInfraEncrypt, checkStorageCMK}
}

// storageAPI names the storage call the checks make: the account listing
// carries every property they read.
type storageAPI interface {
	NewListPager(options *armstorage.AccountsClientListOptions) *runtime.Pager[armstorage.AccountsClientListResponse]
}

// storageScanner checks every storage account of the subscription: secure
// transfer, the minimum TLS version, anonymous blob access, infrastructure
// (double) encryption and customer-managed keys.
func storageScanner() scanner {
	return scanner{
		service: "storage",
		checks:  storageChecks(),
		locates: true,
		scan: func(ctx context.Context, s *scope) error {
			client, err := armstorage.NewAccountsClient(s.subscription, s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create storage client: %w", err)
			}
			return scanStorage(ctx, s, client)
		},
	}
}

func scanStorage(ctx context.Context, s *scope, api storageAPI) error {
	n := 0
	for p := api.NewListPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list storage accounts in %s: %w", s.subscription, err)
		}
		for _, a := range page.Value {
			if a == nil || a.ID == nil {
				continue
			}
			n++
			if err := checkStorageAccount(ctx, s, a); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		for _, check := range storageChecks() {
			if err := s.notApplicable(ctx, check, "*", "", "the subscription has no storage accounts"); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkStorageAccount decides every storage check from the listing. Unset
// properties count as their insecure legacy defaults: Azure documents that
// an account without allowBlobPublicAccess permits public access and one
// without minimumTlsVersion accepts TLS 1.0.
func checkStorageAccount(ctx context.Context, s *scope, a *armstorage.Account) error {
	id, loc := *a.ID, location(a.Location)
	if err := s.located(ctx, id, loc); err != nil {
		return err
	}
	p := a.Properties
	if p == nil {
		p = &armstorage.AccountProperties{}
	}

	https := p.EnableHTTPSTrafficOnly != nil && *p.EnableHTTPSTrafficOnly
	detail := "secure transfer is required: plain HTTP requests are refused"
	if !https {
		detail = "secure transfer is not required: the account accepts plain HTTP"
	}
	if err := s.verdict(ctx, checkStorageSecureTransfer, id, loc, https, detail,
		map[string]any{"supports_https_traffic_only": optBool(p.EnableHTTPSTrafficOnly)}); err != nil {
		return err
	}

	tls := unset
	if p.MinimumTLSVersion != nil {
		tls = string(*p.MinimumTLSVersion)
	}
	tlsOK := tls == string(armstorage.MinimumTLSVersionTLS12) || tls == "TLS1_3"
	detail = fmt.Sprintf("clients must use %s or later", strings.ReplaceAll(tls, "_", "."))
	if !tlsOK {
		detail = "the account accepts TLS versions older than 1.2"
	}
	if err := s.verdict(ctx, checkStorageMinTLS, id, loc, tlsOK, detail, map[string]any{"minimum_tls_version": tls}); err != nil {
		return err
	}

	public := p.AllowBlobPublicAccess == nil || *p.AllowBlobPublicAccess
	detail = "anonymous public read access to blobs is disallowed"
	switch {
	case p.AllowBlobPublicAccess == nil:
		detail = "allowBlobPublicAccess is not set, which Azure treats as allowing anonymous blob access"
	case public:
		detail = "containers may be opened to anonymous public read access"
	}
	if err := s.verdict(ctx, checkStoragePublicBlob, id, loc, !public, detail,
		map[string]any{"allow_blob_public_access": optBool(p.AllowBlobPublicAccess)}); err != nil {
		return err
	}

	enc := p.Encryption
	if enc == nil {
		enc = &armstorage.Encryption{}
	}
	infra := enc.RequireInfrastructureEncryption != nil && *enc.RequireInfrastructureEncryption
	detail = "data is encrypted twice at rest: at the service and at the infrastructure layer"
	if !infra {
		detail = "infrastructure encryption is off: data at rest has one layer of encryption"
	}
	if err := s.verdict(ctx, checkStorageInfraEncrypt, id, loc, infra, detail,
		map[string]any{"require_infrastructure_encryption": infra}); err != nil {
		return err
	}

	source := string(armstorage.KeySourceMicrosoftStorage)
	if enc.KeySource != nil {
		source = string(*enc.KeySource)
	}
	cmk := strings.EqualFold(source, string(armstorage.KeySourceMicrosoftKeyvault))
	observed := map[string]any{"key_source": source}
	detail = "data is encrypted with Microsoft-managed keys"
	if cmk {
		detail = "data is encrypted with a customer-managed key in Key Vault"
		if kv := enc.KeyVaultProperties; kv != nil {
			observed["key_vault_uri"], observed["key_name"] = str(kv.KeyVaultURI), str(kv.KeyName)
		}
	}
	return s.verdict(ctx, checkStorageCMK, id, loc, cmk, detail, observed)
}

// optBool is an optional bool as evidence: its value, or "unset".
func optBool(p *bool) any {
	if p == nil {
		return unset
	}
	return *p
}
