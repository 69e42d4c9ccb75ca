package gcp

import (
	"context"
	"fmt"

	"google.golang.org/api/sqladmin/v1"
)

// Cloud SQL check IDs.
const (
	checkSQLPublicIP = "gcp.sql.public_ip"
	checkSQLSSL      = "gcp.sql.ssl_required"
	checkSQLBackups  = "gcp.sql.automated_backups"
)

func sqlChecks() []string { return []string{checkSQLPublicIP, checkSQLSSL, checkSQLBackups} }

// sqlPageSize is how many instances one instances.list page asks for.
const sqlPageSize = 500

// minRetainedBackups is the fewest automated backups an instance must
// keep: Cloud SQL takes one a day, so it is a week of them, the same floor
// as the AWS RDS check.
const minRetainedBackups = 7

// defaultRetainedBackups is what Cloud SQL keeps when the instance does
// not say.
const defaultRetainedBackups = 7

// sqlScanner checks every Cloud SQL instance: no public IP, encrypted
// connections only, automated backups.
func sqlScanner() scanner {
	return scanner{
		service: "sqladmin",
		area:    "instances",
		checks:  sqlChecks(),
		locates: true,
		scan:    scanSQL,
	}
}

func scanSQL(ctx context.Context, s *scope) error {
	n := 0
	err := s.c.api.sql.Instances.List(s.project).MaxResults(sqlPageSize).Pages(ctx, func(page *sqladmin.InstancesListResponse) error {
		for _, inst := range page.Items {
			p := placeAt(inst.Region)
			if !s.c.inScope(p) {
				continue
			}
			n++
			if err := checkInstance(ctx, s, p, inst); err != nil {
				return err
			}
		}
		return nil
	})
	if serr := s.failed(); serr != nil {
		return serr
	}
	if err != nil {
		return fmt.Errorf("list Cloud SQL instances of project %s: %w", s.project, err)
	}
	if n == 0 {
		return s.noneFound(ctx, "the project has no Cloud SQL instances in the collected locations", sqlChecks()...)
	}
	return nil
}

// checkInstance decides the Cloud SQL checks on one instance. An
// ON_PREMISES_INSTANCE stands for an external primary that Cloud SQL
// replicates from but does not run, so none of them apply to it.
func checkInstance(ctx context.Context, s *scope, p place, inst *sqladmin.DatabaseInstance) error {
	res := "//cloudsql.googleapis.com/projects/" + s.project + "/instances/" + inst.Name
	if err := s.located(ctx, res, p); err != nil {
		return err
	}
	if inst.InstanceType == "ON_PREMISES_INSTANCE" {
		for _, check := range sqlChecks() {
			if err := s.notApplicable(ctx, check, res, p.name, "external primary: Cloud SQL does not run it"); err != nil {
				return err
			}
		}
		return nil
	}
	settings := inst.Settings
	if settings == nil {
		settings = &sqladmin.Settings{}
	}
	ip := settings.IpConfiguration
	if ip == nil {
		ip = &sqladmin.IpConfiguration{}
	}

	nets := []any{}
	for _, n := range ip.AuthorizedNetworks {
		nets = append(nets, n.Value)
	}
	detail := "the instance has no public IPv4 address"
	if ip.Ipv4Enabled {
		detail = fmt.Sprintf("the instance has a public IPv4 address, reachable from %d authorized networks", len(nets))
	}
	if err := s.verdict(ctx, checkSQLPublicIP, res, p.name, !ip.Ipv4Enabled, detail,
		map[string]any{"ipv4_enabled": ip.Ipv4Enabled, "authorized_networks": nets}); err != nil {
		return err
	}

	// sslMode supersedes requireSsl; an instance set up before sslMode
	// existed may report only requireSsl.
	ssl := ip.SslMode == "ENCRYPTED_ONLY" || ip.SslMode == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED" ||
		(ip.SslMode == "" && ip.RequireSsl)
	detail = "the instance accepts encrypted connections only"
	if !ssl {
		detail = "the instance accepts unencrypted connections"
	}
	if err := s.verdict(ctx, checkSQLSSL, res, p.name, ssl, detail,
		map[string]any{"ssl_mode": ip.SslMode, "require_ssl": ip.RequireSsl}); err != nil {
		return err
	}

	if inst.InstanceType == "READ_REPLICA_INSTANCE" {
		return s.notApplicable(ctx, checkSQLBackups, res, p.name, "read replica: it is backed up through its primary")
	}
	b := settings.BackupConfiguration
	if b == nil {
		b = &sqladmin.BackupConfiguration{}
	}
	retained := int64(defaultRetainedBackups)
	if b.BackupRetentionSettings != nil && b.BackupRetentionSettings.RetainedBackups > 0 {
		retained = b.BackupRetentionSettings.RetainedBackups
	}
	observed := map[string]any{"enabled": b.Enabled, "point_in_time_recovery": b.PointInTimeRecoveryEnabled}
	if b.Enabled {
		observed["retained_backups"] = int(retained)
	}
	ok := b.Enabled && retained >= minRetainedBackups
	switch {
	case !b.Enabled:
		detail = "automated backups are off"
	case !ok:
		detail = fmt.Sprintf("automated backups keep only %d backups, fewer than %d", retained, minRetainedBackups)
	default:
		detail = fmt.Sprintf("automated backups are on and keep %d backups", retained)
	}
	return s.verdict(ctx, checkSQLBackups, res, p.name, ok, detail, observed)
}
