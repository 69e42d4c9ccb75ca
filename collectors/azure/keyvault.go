package azure

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"golang.org/x/sync/errgroup"
)

// Key Vault check IDs.
const (
	checkVaultSoftDelete      = "azure.keyvault.soft_delete"
	checkVaultPurgeProtection = "azure.keyvault.purge_protection"
	checkVaultKeyExpiry       = "azure.keyvault.key_expiry"
)

func keyVaultChecks() []string {
	return []string{checkVaultSoftDelete, checkVaultPurgeProtection, checkVaultKeyExpiry}
}

// vaultWorkers bounds the vaults whose keys are listed at once within one
// subscription: one listing per vault would not finish within the scope
// timeout one vault at a time, and a small bound stays clear of ARM's
// read limits.
const vaultWorkers = 4

// vaultsAPI and keysAPI name the Key Vault calls the checks make. Keys are
// listed through the management plane, which reports each key's attributes
// (expiry included) without data-plane access to the vault.
type vaultsAPI interface {
	NewListBySubscriptionPager(options *armkeyvault.VaultsClientListBySubscriptionOptions) *runtime.Pager[armkeyvault.VaultsClientListBySubscriptionResponse]
}

type keysAPI interface {
	NewListPager(resourceGroupName, vaultName string, options *armkeyvault.KeysClientListOptions) *runtime.Pager[armkeyvault.KeysClientListResponse]
}

// keyVaultScanner checks every vault for soft delete and purge protection,
// and every enabled key in it for an expiry date.
func keyVaultScanner() scanner {
	return scanner{
		service: "keyvault",
		checks:  keyVaultChecks(),
		locates: true,
		scan: func(ctx context.Context, s *scope) error {
			vaults, err := armkeyvault.NewVaultsClient(s.subscription, s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create key vault client: %w", err)
			}
			keys, err := armkeyvault.NewKeysClient(s.subscription, s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create key vault keys client: %w", err)
			}
			return scanKeyVaults(ctx, s, vaults, keys)
		},
	}
}

func scanKeyVaults(ctx context.Context, s *scope, vaults vaultsAPI, keys keysAPI) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(vaultWorkers)
	// decided counts the key_expiry findings, so that a subscription whose
	// vaults hold no keys says so once.
	var n int
	var decided atomic.Int64
	var listErr error
pages:
	for p := vaults.NewListBySubscriptionPager(nil); p.More(); {
		page, err := p.NextPage(gctx)
		if err != nil {
			listErr = fmt.Errorf("list key vaults in %s: %w", s.subscription, err)
			break
		}
		for _, v := range page.Value {
			if v == nil || v.ID == nil {
				continue
			}
			n++
			if err := checkVault(gctx, s, v); err != nil {
				listErr = err
				break pages
			}
			g.Go(func() error { return checkVaultKeys(gctx, s, keys, v, &decided) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if listErr != nil {
		return listErr
	}
	if n == 0 {
		for _, check := range keyVaultChecks() {
			if err := s.notApplicable(ctx, check, "*", "", "the subscription has no key vaults"); err != nil {
				return err
			}
		}
		return nil
	}
	if decided.Load() == 0 {
		return s.notApplicable(ctx, checkVaultKeyExpiry, "*", "", "the subscription's key vaults hold no keys")
	}
	return nil
}

// checkVault decides the vault-wide settings. An unset enableSoftDelete is
// a vault from before soft delete became the default, and an unset
// enablePurgeProtection has never been turned on.
func checkVault(ctx context.Context, s *scope, v *armkeyvault.Vault) error {
	id, loc := *v.ID, location(v.Location)
	if err := s.located(ctx, id, loc); err != nil {
		return err
	}
	p := v.Properties
	if p == nil {
		p = &armkeyvault.VaultProperties{}
	}
	soft := p.EnableSoftDelete != nil && *p.EnableSoftDelete
	observed := map[string]any{"enable_soft_delete": optBool(p.EnableSoftDelete)}
	detail := "deleted keys, secrets and certificates stay recoverable"
	if soft {
		if p.SoftDeleteRetentionInDays != nil {
			observed["retention_days"] = int(*p.SoftDeleteRetentionInDays)
		}
	} else {
		detail = "soft delete is off: a deleted vault object is gone at once"
	}
	if err := s.verdict(ctx, checkVaultSoftDelete, id, loc, soft, detail, observed); err != nil {
		return err
	}
	purge := p.EnablePurgeProtection != nil && *p.EnablePurgeProtection
	detail = "deleted objects cannot be purged before their retention period ends"
	if !purge {
		detail = "purge protection is off: a deleted key can be purged at once"
	}
	return s.verdict(ctx, checkVaultPurgeProtection, id, loc, purge, detail,
		map[string]any{"enable_purge_protection": optBool(p.EnablePurgeProtection)})
}

// checkVaultKeys decides key_expiry for every key in v. A failed listing
// leaves the vault's keys not assessed, on the vault itself since the keys
// are unknown.
func checkVaultKeys(ctx context.Context, s *scope, api keysAPI, v *armkeyvault.Vault, decided *atomic.Int64) error {
	id, loc := *v.ID, location(v.Location)
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		return s.notAssessed(ctx, checkVaultKeyExpiry, id, loc, fmt.Errorf("parse key vault ID %s: %w", id, err))
	}
	for p := api.NewListPager(rid.ResourceGroupName, rid.Name, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			decided.Add(1)
			return s.notAssessed(ctx, checkVaultKeyExpiry, id, loc, fmt.Errorf("list keys of vault %s: %w", rid.Name, err))
		}
		for _, k := range page.Value {
			if k == nil || k.ID == nil {
				continue
			}
			decided.Add(1)
			if err := checkKeyExpiry(ctx, s, k, loc); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKeyExpiry passes an enabled key that has an expiry date, so that it
// is rotated out rather than used for ever; a disabled key cannot be used
// and is not judged.
func checkKeyExpiry(ctx context.Context, s *scope, k *armkeyvault.Key, loc string) error {
	var attrs armkeyvault.KeyAttributes
	if k.Properties != nil && k.Properties.Attributes != nil {
		attrs = *k.Properties.Attributes
	}
	if attrs.Enabled != nil && !*attrs.Enabled {
		return s.notApplicable(ctx, checkVaultKeyExpiry, *k.ID, loc, "the key is disabled")
	}
	if attrs.Expires == nil {
		return s.verdict(ctx, checkVaultKeyExpiry, *k.ID, loc, false, "the key has no expiry date",
			map[string]any{"expires": unset})
	}
	exp := time.Unix(*attrs.Expires, 0).UTC()
	detail := "the key expires on " + exp.Format(time.DateOnly)
	if exp.Before(time.Now()) {
		detail = "the key expired on " + exp.Format(time.DateOnly)
	}
	return s.verdict(ctx, checkVaultKeyExpiry, *k.ID, loc, true, detail,
		map[string]any{"expires": exp.Format(time.RFC3339)})
}
