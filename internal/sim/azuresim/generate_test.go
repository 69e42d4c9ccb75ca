package azuresim

import (
	"reflect"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func policyOptions() policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}
}

func TestGenerateIsDeterministic(t *testing.T) {
	spec := Spec{Subscriptions: 3, Locations: []string{"westeurope", "eastus"}, PerLocation: 4}
	a, b := Generate(7, spec), Generate(7, spec)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed and spec gave different estates")
	}
	if reflect.DeepEqual(a, Generate(8, spec)) {
		t.Error("different seeds gave the same estate")
	}
}

func TestGenerateSizesAndNames(t *testing.T) {
	e := Generate(1, Spec{Subscriptions: 5, Locations: []string{"westeurope", "germanywestcentral"}, PerLocation: 10})
	if len(e.Subscriptions) != 5 {
		t.Fatalf("%d subscriptions, want 5", len(e.Subscriptions))
	}
	var ids, names []string
	for _, s := range e.Subscriptions {
		ids = append(ids, s.ID)
		if len(s.StorageAccounts) != 20 || len(s.KeyVaults) != 20 || len(s.NSGs) != 20 || len(s.SQLServers) != 20 || len(s.Disks) != 20 {
			t.Errorf("%s: %d accounts, %d vaults, %d NSGs, %d servers, %d disks; want 20 of each", s.ID,
				len(s.StorageAccounts), len(s.KeyVaults), len(s.NSGs), len(s.SQLServers), len(s.Disks))
		}
		if !e.Under(s, e.TenantID) {
			t.Errorf("%s is not under the tenant root group", s.ID)
		}
		for _, a := range s.StorageAccounts {
			names = append(names, a.Name)
			if len(a.Name) > 24 {
				t.Errorf("storage account name %q is longer than Azure allows", a.Name)
			}
		}
		for _, v := range s.KeyVaults {
			names = append(names, v.Name)
		}
	}
	for _, xs := range [][]string{ids, names} {
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(xs) {
			t.Errorf("duplicate names among %d", len(xs))
		}
	}
}

func TestDemo(t *testing.T) {
	e := Demo()
	if len(e.Subscriptions) != 3 {
		t.Fatalf("%d subscriptions, want 3", len(e.Subscriptions))
	}
	inEastUS := 0
	for _, s := range e.Subscriptions {
		if !e.Under(s, DemoGroup) {
			t.Errorf("%s is not under %s", s.ID, DemoGroup)
		}
		for _, a := range s.StorageAccounts {
			if a.Location == "eastus" {
				inEastUS++
			}
		}
	}
	if inEastUS == 0 {
		t.Error("no storage account in eastus for the location check to fail")
	}
}
