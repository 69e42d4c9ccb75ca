package gcpsim

import (
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/api/sqladmin/v1"
)

// listSQLInstances answers sql.instances.list.
func (s *Server) listSQLInstances(w http.ResponseWriter, c *call) {
	insts := c.Project.SQLInstances
	pg, ok := pageOf(w, c, len(insts), "maxResults", 500, 1000)
	if !ok {
		return
	}
	out := &sqladmin.InstancesListResponse{Kind: "sql#instancesList", NextPageToken: pg.next}
	for i, in := range insts[pg.start:pg.end] {
		typ := in.InstanceType
		if typ == "" {
			typ = "CLOUD_SQL_INSTANCE"
		}
		version := in.DatabaseVersion
		if version == "" {
			version = "POSTGRES_16"
		}
		ip := &sqladmin.IpConfiguration{Ipv4Enabled: in.PublicIP, RequireSsl: in.RequireSSL, SslMode: in.SSLMode,
			AuthorizedNetworks: []*sqladmin.AclEntry{}}
		for j, n := range in.AuthorizedNetworks {
			ip.AuthorizedNetworks = append(ip.AuthorizedNetworks, &sqladmin.AclEntry{Kind: "sql#aclEntry", Value: n, Name: "net-" + string(rune('a'+j))})
		}
		if !in.PublicIP {
			ip.PrivateNetwork = "projects/" + c.ProjectID + "/global/networks/default"
		}
		backup := &sqladmin.BackupConfiguration{Kind: "sql#backupConfiguration", Enabled: in.Backups, StartTime: "03:00",
			PointInTimeRecoveryEnabled: in.Backups && strings.HasPrefix(version, "POSTGRES")}
		if in.RetainedBackups > 0 {
			backup.BackupRetentionSettings = &sqladmin.BackupRetentionSettings{RetentionUnit: "COUNT", RetainedBackups: in.RetainedBackups}
		}
		inst := &sqladmin.DatabaseInstance{
			Kind:            "sql#instance",
			Name:            in.Name,
			Project:         c.ProjectID,
			Region:          in.Region,
			GceZone:         in.Region + "-b",
			DatabaseVersion: version,
			InstanceType:    typ,
			BackendType:     "SECOND_GEN",
			State:           "RUNNABLE",
			ConnectionName:  c.ProjectID + ":" + in.Region + ":" + in.Name,
			SelfLink:        "https://sqladmin.googleapis.com/v1/projects/" + c.ProjectID + "/instances/" + in.Name,
			Settings: &sqladmin.Settings{
				Kind:                "sql#settings",
				Tier:                "db-custom-2-7680",
				ActivationPolicy:    "ALWAYS",
				AvailabilityType:    "ZONAL",
				IpConfiguration:     ip,
				BackupConfiguration: backup,
			},
		}
		if typ == "READ_REPLICA_INSTANCE" && pg.start+i > 0 {
			inst.MasterInstanceName = c.ProjectID + ":" + insts[0].Name
		}
		if in.PublicIP {
			inst.IpAddresses = []*sqladmin.IpMapping{{Type: "PRIMARY", IpAddress: "34.76.0." + strconv.Itoa(pg.start+i+10)}}
		} else {
			inst.IpAddresses = []*sqladmin.IpMapping{{Type: "PRIVATE", IpAddress: "10.10.0." + strconv.Itoa(pg.start+i+10)}}
		}
		out.Items = append(out.Items, inst)
	}
	writeJSON(w, out)
}
