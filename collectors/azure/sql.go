package azure

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/sql/armsql"
	"golang.org/x/sync/errgroup"
)

// Azure SQL check IDs.
const (
	checkSQLAuditing     = "azure.sql.auditing"
	checkSQLTDE          = "azure.sql.tde"
	checkSQLPublicAccess = "azure.sql.public_network_access"
)

func sqlChecks() []string { return []string{checkSQLAuditing, checkSQLTDE, checkSQLPublicAccess} }

// sqlServerWorkers bounds the servers checked at once within one
// subscription: each costs an auditing read, a database listing and one
// read per database.
const sqlServerWorkers = 4

// The SQL calls the checks make.
type (
	sqlServersAPI interface {
		NewListPager(options *armsql.ServersClientListOptions) *runtime.Pager[armsql.ServersClientListResponse]
	}
	sqlAuditingAPI interface {
		Get(ctx context.Context, resourceGroupName, serverName string, options *armsql.ServerBlobAuditingPoliciesClientGetOptions) (armsql.ServerBlobAuditingPoliciesClientGetResponse, error)
	}
	sqlDatabasesAPI interface {
		NewListByServerPager(resourceGroupName, serverName string, options *armsql.DatabasesClientListByServerOptions) *runtime.Pager[armsql.DatabasesClientListByServerResponse]
	}
	sqlTDEAPI interface {
		Get(ctx context.Context, resourceGroupName, serverName, databaseName string, tdeName armsql.TransparentDataEncryptionName, options *armsql.TransparentDataEncryptionsClientGetOptions) (armsql.TransparentDataEncryptionsClientGetResponse, error)
	}
)

// sqlAPIs are the clients one SQL scan uses.
type sqlAPIs struct {
	servers   sqlServersAPI
	auditing  sqlAuditingAPI
	databases sqlDatabasesAPI
	tde       sqlTDEAPI
}

// sqlScanner checks every Azure SQL logical server for auditing and public
// network access, and every user database on it for transparent data
// encryption.
func sqlScanner() scanner {
	return scanner{
		service: "sql",
		checks:  sqlChecks(),
		locates: true,
		scan: func(ctx context.Context, s *scope) error {
			f, err := armsql.NewClientFactory(s.subscription, s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create SQL client: %w", err)
			}
			return scanSQL(ctx, s, sqlAPIs{
				servers:   f.NewServersClient(),
				auditing:  f.NewServerBlobAuditingPoliciesClient(),
				databases: f.NewDatabasesClient(),
				tde:       f.NewTransparentDataEncryptionsClient(),
			})
		},
	}
}

func scanSQL(ctx context.Context, s *scope, api sqlAPIs) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sqlServerWorkers)
	n := 0
	// userDBs counts tde findings, so that servers without user databases
	// say so once for the subscription.
	var userDBs atomic.Int64
	var listErr error
	for p := api.servers.NewListPager(nil); p.More(); {
		page, err := p.NextPage(gctx)
		if err != nil {
			listErr = fmt.Errorf("list SQL servers in %s: %w", s.subscription, err)
			break
		}
		for _, sv := range page.Value {
			if sv == nil || sv.ID == nil {
				continue
			}
			n++
			g.Go(func() error { return checkSQLServer(gctx, s, api, sv, &userDBs) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if listErr != nil {
		return listErr
	}
	if n == 0 {
		for _, check := range sqlChecks() {
			if err := s.notApplicable(ctx, check, "*", "", "the subscription has no Azure SQL servers"); err != nil {
				return err
			}
		}
		return nil
	}
	if userDBs.Load() == 0 {
		return s.notApplicable(ctx, checkSQLTDE, "*", "", "the subscription's SQL servers hold no user databases")
	}
	return nil
}

// checkSQLServer runs every SQL check on one server. It returns an error
// only when the sink fails; an API failure leaves just the affected check
// not assessed.
func checkSQLServer(ctx context.Context, s *scope, api sqlAPIs, sv *armsql.Server, userDBs *atomic.Int64) error {
	id, loc := *sv.ID, location(sv.Location)
	if err := s.located(ctx, id, loc); err != nil {
		return err
	}
	access := string(armsql.ServerNetworkAccessFlagEnabled)
	if sv.Properties != nil && sv.Properties.PublicNetworkAccess != nil {
		access = string(*sv.Properties.PublicNetworkAccess)
	}
	// SecuredByPerimeter, a later value, also keeps the public endpoint
	// closed to anyone outside the network security perimeter.
	closed := strings.EqualFold(access, string(armsql.ServerNetworkAccessFlagDisabled)) || strings.EqualFold(access, "SecuredByPerimeter")
	detail := "the server's public endpoint is closed; it is reached through private endpoints"
	if !closed {
		detail = "the server accepts connections on its public endpoint"
	}
	if err := s.verdict(ctx, checkSQLPublicAccess, id, loc, closed, detail, map[string]any{"public_network_access": access}); err != nil {
		return err
	}
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		err = fmt.Errorf("parse SQL server ID %s: %w", id, err)
		userDBs.Add(1)
		for _, check := range []string{checkSQLAuditing, checkSQLTDE} {
			if err := s.notAssessed(ctx, check, id, loc, err); err != nil {
				return err
			}
		}
		return nil
	}
	if err := checkSQLAuditingPolicy(ctx, s, api.auditing, rid, loc); err != nil {
		return err
	}
	return checkSQLDatabases(ctx, s, api, rid, loc, userDBs)
}

func checkSQLAuditingPolicy(ctx context.Context, s *scope, api sqlAuditingAPI, server *arm.ResourceID, loc string) error {
	id := server.String()
	out, err := api.Get(ctx, server.ResourceGroupName, server.Name, nil)
	if err != nil {
		return s.notAssessed(ctx, checkSQLAuditing, id, loc, fmt.Errorf("get auditing policy of SQL server %s: %w", server.Name, err))
	}
	var p armsql.ServerBlobAuditingPolicyProperties
	if out.Properties != nil {
		p = *out.Properties
	}
	st := string(armsql.BlobAuditingPolicyStateDisabled)
	if p.State != nil {
		st = string(*p.State)
	}
	on := strings.EqualFold(st, string(armsql.BlobAuditingPolicyStateEnabled))
	observed := map[string]any{"state": st}
	detail := "server auditing is off: database events are not recorded"
	if on {
		detail = "server auditing records database events for every database"
		observed["azure_monitor_target"] = p.IsAzureMonitorTargetEnabled != nil && *p.IsAzureMonitorTargetEnabled
		observed["storage_target"] = str(p.StorageEndpoint) != ""
		if p.RetentionDays != nil {
			observed["retention_days"] = int(*p.RetentionDays)
		}
	}
	return s.verdict(ctx, checkSQLAuditing, id, loc, on, detail, observed)
}

// checkSQLDatabases decides tde for every user database of the server.
// master is passed by: Azure cannot encrypt the system database with TDE.
func checkSQLDatabases(ctx context.Context, s *scope, api sqlAPIs, server *arm.ResourceID, loc string, userDBs *atomic.Int64) error {
	for p := api.databases.NewListByServerPager(server.ResourceGroupName, server.Name, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			userDBs.Add(1)
			return s.notAssessed(ctx, checkSQLTDE, server.String(), loc, fmt.Errorf("list databases of SQL server %s: %w", server.Name, err))
		}
		for _, db := range page.Value {
			if db == nil || db.ID == nil || db.Name == nil || strings.EqualFold(*db.Name, "master") {
				continue
			}
			userDBs.Add(1)
			if err := checkTDE(ctx, s, api.tde, server, db, loc); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkTDE(ctx context.Context, s *scope, api sqlTDEAPI, server *arm.ResourceID, db *armsql.Database, serverLoc string) error {
	id, loc := *db.ID, location(db.Location)
	if loc == "" {
		loc = serverLoc
	}
	out, err := api.Get(ctx, server.ResourceGroupName, server.Name, *db.Name, armsql.TransparentDataEncryptionNameCurrent, nil)
	if err != nil {
		return s.notAssessed(ctx, checkSQLTDE, id, loc, fmt.Errorf("get transparent data encryption of database %s/%s: %w", server.Name, *db.Name, err))
	}
	st := string(armsql.TransparentDataEncryptionStateDisabled)
	if out.Properties != nil && out.Properties.State != nil {
		st = string(*out.Properties.State)
	}
	on := strings.EqualFold(st, string(armsql.TransparentDataEncryptionStateEnabled))
	detail := "the database, its backups and its logs are encrypted at rest"
	if !on {
		detail = "transparent data encryption is off for the database"
	}
	return s.verdict(ctx, checkSQLTDE, id, loc, on, detail, map[string]any{"state": st})
}
