package azure

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

func TestDiskCMKEncryption(t *testing.T) {
	disk := resID("Microsoft.Compute/disks", "disk-test")
	des := resID("Microsoft.Compute/diskEncryptionSets", "des")
	withDisk := func(d azuresim.Disk) func(*azuresim.Estate) {
		return func(e *azuresim.Estate) {
			d.Name, d.ResourceGroup, d.Location = "disk-test", group, loc
			home(e).Disks = []azuresim.Disk{d}
		}
	}
	runSimCases(t, []simCase{
		{name: "customer-managed key passes", setup: withDisk(azuresim.Disk{EncryptionType: "EncryptionAtRestWithCustomerKey", DiskEncryptionSet: des}),
			check: checkDiskCMK, resource: disk, status: finding.Pass,
			observed: map[string]any{"encryption_type": "EncryptionAtRestWithCustomerKey", "disk_encryption_set_id": des}},
		{name: "platform and customer keys pass", setup: withDisk(azuresim.Disk{EncryptionType: "EncryptionAtRestWithPlatformAndCustomerKeys", DiskEncryptionSet: des}),
			check: checkDiskCMK, resource: disk, status: finding.Pass, detail: "twice"},
		{name: "Azure Disk Encryption passes", setup: withDisk(azuresim.Disk{ADE: true}),
			check: checkDiskCMK, resource: disk, status: finding.Pass,
			observed: map[string]any{"encryption_type": "EncryptionAtRestWithPlatformKey", "azure_disk_encryption": true}},
		{name: "platform key only fails", setup: withDisk(azuresim.Disk{}),
			check: checkDiskCMK, resource: disk, status: finding.Fail, detail: "platform-managed key only",
			observed: map[string]any{"encryption_type": "EncryptionAtRestWithPlatformKey", "azure_disk_encryption": false}},
		{name: "no disks is not applicable", check: checkDiskCMK, resource: "*", status: finding.NotApplicable},
		{name: "denied listing is not assessed", setup: withDisk(azuresim.Disk{}),
			faults: []azuresim.Fault{{Service: "compute", Kind: azuresim.AccessDenied}},
			check:  checkDiskCMK, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
	})
}
