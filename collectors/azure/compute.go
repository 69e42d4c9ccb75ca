package azure

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

// checkDiskCMK is the managed disk check ID.
const checkDiskCMK = "azure.compute.disk_cmk_encryption"

// disksAPI names the compute call the check makes.
type disksAPI interface {
	NewListPager(options *armcompute.DisksClientListOptions) *runtime.Pager[armcompute.DisksClientListResponse]
}

// computeScanner checks every managed disk of the subscription for
// encryption under a key the customer controls.
func computeScanner() scanner {
	return scanner{
		service: "compute",
		checks:  []string{checkDiskCMK},
		locates: true,
		scan: func(ctx context.Context, s *scope) error {
			client, err := armcompute.NewDisksClient(s.subscription, s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create disks client: %w", err)
			}
			return scanDisks(ctx, s, client)
		},
	}
}

func scanDisks(ctx context.Context, s *scope, api disksAPI) error {
	n := 0
	for p := api.NewListPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list managed disks in %s: %w", s.subscription, err)
		}
		for _, d := range page.Value {
			if d == nil || d.ID == nil {
				continue
			}
			n++
			if err := checkDisk(ctx, s, d); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		return s.notApplicable(ctx, checkDiskCMK, "*", "", "the subscription has no managed disks")
	}
	return nil
}

// checkDisk passes a disk encrypted with a customer-managed key, through a
// disk encryption set (alone or on top of the platform key) or Azure Disk
// Encryption in the guest. Every managed disk is encrypted at rest with a
// platform key, so a check for encryption as such could never fail; what
// sets disks apart is who controls the key.
func checkDisk(ctx context.Context, s *scope, d *armcompute.Disk) error {
	id, loc := *d.ID, location(d.Location)
	if err := s.located(ctx, id, loc); err != nil {
		return err
	}
	typ := string(armcompute.EncryptionTypeEncryptionAtRestWithPlatformKey)
	var des string
	var ade bool
	if p := d.Properties; p != nil {
		if p.Encryption != nil {
			if p.Encryption.Type != nil {
				typ = string(*p.Encryption.Type)
			}
			des = str(p.Encryption.DiskEncryptionSetID)
		}
		ade = p.EncryptionSettingsCollection != nil && p.EncryptionSettingsCollection.Enabled != nil && *p.EncryptionSettingsCollection.Enabled
	}
	observed := map[string]any{"encryption_type": typ, "azure_disk_encryption": ade}
	if des != "" {
		observed["disk_encryption_set_id"] = des
	}
	switch armcompute.EncryptionType(typ) {
	case armcompute.EncryptionTypeEncryptionAtRestWithCustomerKey:
		return s.verdict(ctx, checkDiskCMK, id, loc, true, "the disk is encrypted at rest with a customer-managed key", observed)
	case armcompute.EncryptionTypeEncryptionAtRestWithPlatformAndCustomerKeys:
		return s.verdict(ctx, checkDiskCMK, id, loc, true, "the disk is encrypted twice at rest, with a platform key and a customer-managed key", observed)
	}
	if ade {
		return s.verdict(ctx, checkDiskCMK, id, loc, true, "Azure Disk Encryption encrypts the disk in the guest with keys from the customer's key vault", observed)
	}
	return s.verdict(ctx, checkDiskCMK, id, loc, false, "the disk is encrypted with a platform-managed key only", observed)
}
