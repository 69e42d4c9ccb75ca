package azure

import (
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// goodVault satisfies every Key Vault check.
func goodVault() azuresim.KeyVault {
	return azuresim.KeyVault{
		Name: "kv-test", ResourceGroup: group, Location: loc, SoftDelete: true, PurgeProtection: true,
		Keys: []azuresim.Key{{Name: "cmk", Enabled: true, Expires: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}},
	}
}

func withVault(mutate func(*azuresim.KeyVault)) func(*azuresim.Estate) {
	return func(e *azuresim.Estate) {
		v := goodVault()
		if mutate != nil {
			mutate(&v)
		}
		home(e).KeyVaults = []azuresim.KeyVault{v}
	}
}

func TestKeyVaultChecks(t *testing.T) {
	vault := resID("Microsoft.KeyVault/vaults", "kv-test")
	key := vault + "/keys/cmk"
	denied := []azuresim.Fault{{Service: "keyvault", Operation: "Vaults_ListBySubscription", Kind: azuresim.AccessDenied}}
	cases := []simCase{
		{name: "soft delete on passes", setup: withVault(nil),
			check: checkVaultSoftDelete, resource: vault, status: finding.Pass,
			observed: map[string]any{"enable_soft_delete": true, "retention_days": 90}},
		{name: "soft delete off fails", setup: withVault(func(v *azuresim.KeyVault) { v.SoftDelete = false }),
			check: checkVaultSoftDelete, resource: vault, status: finding.Fail,
			observed: map[string]any{"enable_soft_delete": false}},

		{name: "purge protection on passes", setup: withVault(nil),
			check: checkVaultPurgeProtection, resource: vault, status: finding.Pass,
			observed: map[string]any{"enable_purge_protection": true}},
		{name: "purge protection never turned on fails", setup: withVault(func(v *azuresim.KeyVault) { v.PurgeProtection = false }),
			check: checkVaultPurgeProtection, resource: vault, status: finding.Fail,
			observed: map[string]any{"enable_purge_protection": "unset"}},

		{name: "key with an expiry date passes", setup: withVault(nil),
			check: checkVaultKeyExpiry, resource: key, status: finding.Pass, detail: "expires on 2031-01-02",
			observed: map[string]any{"expires": "2031-01-02T03:04:05Z"}},
		{name: "key past its expiry date still has one", setup: withVault(func(v *azuresim.KeyVault) {
			v.Keys[0].Expires = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		}), check: checkVaultKeyExpiry, resource: key, status: finding.Pass, detail: "expired on 2020-01-01"},
		{name: "key without expiry date fails", setup: withVault(func(v *azuresim.KeyVault) { v.Keys[0].Expires = time.Time{} }),
			check: checkVaultKeyExpiry, resource: key, status: finding.Fail,
			observed: map[string]any{"expires": "unset"}},
		{name: "disabled key is not applicable", setup: withVault(func(v *azuresim.KeyVault) {
			v.Keys[0].Expires, v.Keys[0].Enabled = time.Time{}, false
		}), check: checkVaultKeyExpiry, resource: key, status: finding.NotApplicable, detail: "disabled"},
		{name: "vaults without keys are not applicable", setup: withVault(func(v *azuresim.KeyVault) { v.Keys = nil }),
			check: checkVaultKeyExpiry, resource: "*", status: finding.NotApplicable, detail: "hold no keys"},
		{name: "denied key listing leaves the vault's keys not assessed", setup: withVault(nil),
			faults: []azuresim.Fault{{Service: "keyvault", Operation: "Keys_List", Kind: azuresim.AccessDenied}},
			check:  checkVaultKeyExpiry, resource: vault, status: finding.NotAssessed, reason: finding.AccessDenied,
			detail: "list keys of vault kv-test"},
		{name: "throttled key listing leaves the vault's keys not assessed", setup: withVault(nil),
			faults: []azuresim.Fault{{Service: "keyvault", Operation: "Keys_List", Kind: azuresim.Throttle}},
			check:  checkVaultKeyExpiry, resource: vault, status: finding.NotAssessed, reason: finding.Throttled},
		{name: "denied key listing keeps the vault settings", setup: withVault(nil),
			faults: []azuresim.Fault{{Service: "keyvault", Operation: "Keys_List", Kind: azuresim.AccessDenied}},
			check:  checkVaultSoftDelete, resource: vault, status: finding.Pass},
	}
	for _, check := range keyVaultChecks() {
		cases = append(cases,
			simCase{name: check + " without vaults is not applicable", check: check, resource: "*", status: finding.NotApplicable},
			simCase{name: check + " denied listing is not assessed", setup: withVault(nil), faults: denied,
				check: check, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
		)
	}
	runSimCases(t, cases)
}

func TestKeysOfEveryVaultAreListed(t *testing.T) {
	e := testEstate()
	for _, name := range []string{"kv-a", "kv-b", "kv-c", "kv-d", "kv-e", "kv-f"} {
		v := goodVault()
		v.Name = name
		v.Keys = append(v.Keys, azuresim.Key{Name: "k2", Enabled: true})
		home(e).KeyVaults = append(home(e).KeyVaults, v)
	}
	c, sim := startSim(t, e, nil)
	sim.PageSize = 1
	rec := collect(t, c)
	if got := len(rec.Of(checkVaultKeyExpiry, "")); got != 12 {
		t.Errorf("%d key_expiry findings, want two per vault (12)", got)
	}
	if got := len(rec.Of(checkVaultSoftDelete, "")); got != 6 {
		t.Errorf("%d soft_delete findings, want one per vault (6)", got)
	}
}
