package azuresim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// route is one REST operation the server answers.
type route struct {
	// service groups operations the way Fault.Service names them.
	service string
	// operation is the REST API's operation ID.
	operation string
	// action is the RBAC action ARM checks for the call, quoted in
	// AuthorizationFailed errors (and the list a custom role needs).
	action string
	// pattern is the path, split at slashes; {name} segments capture.
	pattern []string
	serve   func(s *Server, w http.ResponseWriter, r *http.Request, c *call)
}

// routes is the plain table of every operation the server simulates.
func routes() []*route {
	const sub = "subscriptions/{subscriptionId}"
	const rg = sub + "/resourceGroups/{resourceGroupName}"
	mk := func(service, op, action, path string, serve func(*Server, http.ResponseWriter, *http.Request, *call)) *route {
		return &route{service: service, operation: op, action: action, pattern: strings.Split(path, "/"), serve: serve}
	}
	return []*route{
		mk("subscriptions", "Subscriptions_List", "Microsoft.Resources/subscriptions/read", "subscriptions", serveSubscriptions),
		mk("subscriptions", "Subscriptions_Get", "Microsoft.Resources/subscriptions/read", sub, serveSubscription),
		mk("managementgroups", "ManagementGroups_GetDescendants", "Microsoft.Management/managementGroups/descendants/read",
			"providers/Microsoft.Management/managementGroups/{groupId}/descendants", serveDescendants),
		mk("storage", "StorageAccounts_List", "Microsoft.Storage/storageAccounts/read",
			sub+"/providers/Microsoft.Storage/storageAccounts", serveStorageAccounts),
		mk("keyvault", "Vaults_ListBySubscription", "Microsoft.KeyVault/vaults/read",
			sub+"/providers/Microsoft.KeyVault/vaults", serveVaults),
		mk("keyvault", "Keys_List", "Microsoft.KeyVault/vaults/keys/read",
			rg+"/providers/Microsoft.KeyVault/vaults/{vaultName}/keys", serveKeys),
		mk("network", "NetworkSecurityGroups_ListAll", "Microsoft.Network/networkSecurityGroups/read",
			sub+"/providers/Microsoft.Network/networkSecurityGroups", serveNSGs),
		mk("network", "NetworkWatchers_ListAll", "Microsoft.Network/networkWatchers/read",
			sub+"/providers/Microsoft.Network/networkWatchers", serveWatchers),
		mk("network", "FlowLogs_List", "Microsoft.Network/networkWatchers/flowLogs/read",
			rg+"/providers/Microsoft.Network/networkWatchers/{networkWatcherName}/flowLogs", serveFlowLogs),
		mk("sql", "Servers_List", "Microsoft.Sql/servers/read",
			sub+"/providers/Microsoft.Sql/servers", serveSQLServers),
		mk("sql", "ServerBlobAuditingPolicies_Get", "Microsoft.Sql/servers/auditingSettings/read",
			rg+"/providers/Microsoft.Sql/servers/{serverName}/auditingSettings/{blobAuditingPolicyName}", serveAuditing),
		mk("sql", "Databases_ListByServer", "Microsoft.Sql/servers/databases/read",
			rg+"/providers/Microsoft.Sql/servers/{serverName}/databases", serveDatabases),
		mk("sql", "TransparentDataEncryptions_Get", "Microsoft.Sql/servers/databases/transparentDataEncryption/read",
			rg+"/providers/Microsoft.Sql/servers/{serverName}/databases/{databaseName}/transparentDataEncryption/{tdeName}", serveTDE),
		mk("monitor", "DiagnosticSettings_List", "Microsoft.Insights/diagnosticSettings/read",
			sub+"/providers/Microsoft.Insights/diagnosticSettings", serveDiagnosticSettings),
		mk("defender", "Pricings_List", "Microsoft.Security/pricings/read",
			sub+"/providers/Microsoft.Security/pricings", servePricings),
		mk("compute", "Disks_List", "Microsoft.Compute/disks/read",
			sub+"/providers/Microsoft.Compute/disks", serveDisks),
	}
}

// Actions lists the RBAC actions of every simulated operation, sorted: the
// permissions a read-only collector of this estate needs.
func Actions() []string {
	var out []string
	for _, r := range routes() {
		out = append(out, r.action)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// match finds the route for path. ARM paths are case-insensitive.
func (s *Server) match(path string) *call {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, rt := range s.routes {
		if len(rt.pattern) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, p := range rt.pattern {
			if strings.HasPrefix(p, "{") {
				params[strings.Trim(p, "{}")] = segs[i]
				continue
			}
			if !strings.EqualFold(p, segs[i]) {
				ok = false
				break
			}
		}
		if ok {
			return &call{route: rt, params: params}
		}
	}
	return nil
}

// notFound answers ARM's 404 for a resource that does not exist.
func notFound(w http.ResponseWriter, typ, name, group string) {
	writeError(w, http.StatusNotFound, "ResourceNotFound",
		fmt.Sprintf("The Resource '%s/%s' under resource group '%s' was not found.", typ, name, group))
}

// The fixed creation time of every simulated resource, so that answers do
// not depend on the day, in the two spellings ARM uses.
const (
	createdAt   = "2025-03-01T09:00:00Z"
	createdUnix = 1740819600
)

func resourceID(sub, group, typ, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", sub, group, typ, name)
}

func subscriptionJSON(e *Estate, s *Subscription) map[string]any {
	state := s.State
	if state == "" {
		state = "Enabled"
	}
	return map[string]any{
		"id":                   "/subscriptions/" + s.ID,
		"subscriptionId":       s.ID,
		"displayName":          s.DisplayName,
		"state":                state,
		"tenantId":             e.TenantID,
		"authorizationSource":  "RoleBased",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "EnterpriseAgreement_2014-09-01", "spendingLimit": "Off"},
	}
}

func serveSubscriptions(s *Server, w http.ResponseWriter, r *http.Request, _ *call) {
	var items []any
	for _, sub := range s.estate.Subscriptions {
		items = append(items, subscriptionJSON(s.estate, sub))
	}
	s.writePage(w, r, items)
}

func serveSubscription(s *Server, w http.ResponseWriter, _ *http.Request, c *call) {
	writeJSON(w, subscriptionJSON(s.estate, c.sub))
}

func groupID(id string) string { return "/providers/Microsoft.Management/managementGroups/" + id }

func serveDescendants(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	mg := s.estate.ManagementGroup(c.params["groupId"])
	if mg == nil {
		// ARM does not tell a group that is missing from one the caller
		// may not read.
		writeFault(w, c, Fault{Kind: AccessDenied})
		return
	}
	var items []any
	for _, g := range s.estate.ManagementGroups {
		if equalFold(g.ID, mg.ID) || !s.estate.groupUnder(g, mg.ID) {
			continue
		}
		items = append(items, map[string]any{
			"id": groupID(g.ID), "type": "Microsoft.Management/managementGroups", "name": g.ID,
			"properties": map[string]any{"displayName": g.DisplayName, "parent": map[string]any{"id": groupID(g.Parent)}},
		})
	}
	for _, sub := range s.estate.Subscriptions {
		if !s.estate.Under(sub, mg.ID) {
			continue
		}
		parent := sub.ManagementGroup
		if parent == "" {
			parent = s.estate.root()
		}
		items = append(items, map[string]any{
			"id": "/subscriptions/" + sub.ID, "type": "/subscriptions", "name": sub.ID,
			"properties": map[string]any{"displayName": sub.DisplayName, "parent": map[string]any{"id": groupID(parent)}},
		})
	}
	s.writePage(w, r, items)
}

// groupUnder reports whether g is group id or below it.
func (e *Estate) groupUnder(g *ManagementGroup, id string) bool {
	for range len(e.ManagementGroups) + 1 {
		if g == nil {
			return false
		}
		if equalFold(g.ID, id) {
			return true
		}
		if g.Parent == "" {
			return false
		}
		g = e.ManagementGroup(g.Parent)
	}
	return false
}

func serveStorageAccounts(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	var items []any
	for _, a := range c.sub.StorageAccounts {
		enc := map[string]any{
			"keySource":                       "Microsoft.Storage",
			"requireInfrastructureEncryption": a.InfrastructureEncryption,
			"services": map[string]any{
				"blob": map[string]any{"enabled": true, "keyType": "Account", "lastEnabledTime": createdAt},
				"file": map[string]any{"enabled": true, "keyType": "Account", "lastEnabledTime": createdAt},
			},
		}
		if a.KeyVaultKey != "" {
			enc["keySource"] = "Microsoft.Keyvault"
			enc["keyvaultproperties"] = map[string]any{"keyname": a.KeyVaultKey, "keyvaulturi": a.KeyVaultURI}
		}
		props := map[string]any{
			"supportsHttpsTrafficOnly": a.HTTPSOnly,
			"encryption":               enc,
			"provisioningState":        "Succeeded",
			"creationTime":             createdAt,
			"primaryLocation":          a.Location,
			"statusOfPrimary":          "available",
			"primaryEndpoints":         map[string]any{"blob": "https://" + a.Name + ".blob.core.windows.net/"},
		}
		if a.MinTLS != "" {
			props["minimumTlsVersion"] = a.MinTLS
		}
		if a.AllowBlobPublicAccess != nil {
			props["allowBlobPublicAccess"] = *a.AllowBlobPublicAccess
		}
		items = append(items, map[string]any{
			"id":         resourceID(c.sub.ID, a.ResourceGroup, "Microsoft.Storage/storageAccounts", a.Name),
			"name":       a.Name,
			"type":       "Microsoft.Storage/storageAccounts",
			"location":   a.Location,
			"kind":       "StorageV2",
			"sku":        map[string]any{"name": "Standard_LRS", "tier": "Standard"},
			"properties": props,
		})
	}
	s.writePage(w, r, items)
}

func vaultID(sub string, v *KeyVault) string {
	return resourceID(sub, v.ResourceGroup, "Microsoft.KeyVault/vaults", v.Name)
}

func serveVaults(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	var items []any
	for i := range c.sub.KeyVaults {
		v := &c.sub.KeyVaults[i]
		props := map[string]any{
			"tenantId":                s.estate.TenantID,
			"sku":                     map[string]any{"family": "A", "name": "standard"},
			"accessPolicies":          []any{},
			"enableSoftDelete":        v.SoftDelete,
			"enableRbacAuthorization": true,
			"vaultUri":                "https://" + v.Name + ".vault.azure.net/",
			"provisioningState":       "Succeeded",
			"publicNetworkAccess":     "Enabled",
		}
		if v.SoftDelete {
			props["softDeleteRetentionInDays"] = 90
		}
		// Azure leaves enablePurgeProtection out until it is turned on; it
		// cannot be turned off again.
		if v.PurgeProtection {
			props["enablePurgeProtection"] = true
		}
		items = append(items, map[string]any{
			"id": vaultID(c.sub.ID, v), "name": v.Name, "type": "Microsoft.KeyVault/vaults",
			"location": v.Location, "tags": map[string]any{}, "properties": props,
		})
	}
	s.writePage(w, r, items)
}

func serveKeys(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	var v *KeyVault
	for i := range c.sub.KeyVaults {
		cand := &c.sub.KeyVaults[i]
		if equalFold(cand.Name, c.params["vaultName"]) && equalFold(cand.ResourceGroup, c.params["resourceGroupName"]) {
			v = cand
		}
	}
	if v == nil {
		notFound(w, "Microsoft.KeyVault/vaults", c.params["vaultName"], c.params["resourceGroupName"])
		return
	}
	var items []any
	for _, k := range v.Keys {
		attrs := map[string]any{
			"enabled":       k.Enabled,
			"created":       createdUnix,
			"updated":       createdUnix,
			"recoveryLevel": "Recoverable+Purgeable",
			"exportable":    false,
		}
		if !k.Expires.IsZero() {
			attrs["exp"] = k.Expires.Unix()
		}
		uri := "https://" + v.Name + ".vault.azure.net/keys/" + k.Name
		items = append(items, map[string]any{
			"id": vaultID(c.sub.ID, v) + "/keys/" + k.Name, "name": k.Name, "type": "Microsoft.KeyVault/vaults/keys",
			"location": v.Location,
			"properties": map[string]any{
				"attributes": attrs, "kty": "RSA", "keySize": 2048,
				"keyOps": []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"},
				"keyUri": uri, "keyUriWithVersion": uri + "/0123456789abcdef0123456789abcdef",
			},
		})
	}
	s.writePage(w, r, items)
}

// defaultRules are the rules Azure puts in every NSG, below the custom ones.
func defaultRules(nsgID string) []any {
	rule := func(name, dir, access, src, dst string, prio int) any {
		return map[string]any{
			"id": nsgID + "/defaultSecurityRules/" + name, "name": name, "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
			"properties": map[string]any{
				"description": "Default rule", "protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
				"sourceAddressPrefix": src, "destinationAddressPrefix": dst, "access": access, "priority": prio, "direction": dir,
				"sourceAddressPrefixes": []any{}, "destinationAddressPrefixes": []any{}, "sourcePortRanges": []any{}, "destinationPortRanges": []any{},
				"provisioningState": "Succeeded",
			},
		}
	}
	return []any{
		rule("AllowVnetInBound", "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000),
		rule("AllowAzureLoadBalancerInBound", "Inbound", "Allow", "AzureLoadBalancer", "*", 65001),
		rule("DenyAllInBound", "Inbound", "Deny", "*", "*", 65500),
		rule("AllowVnetOutBound", "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork", 65000),
		rule("AllowInternetOutBound", "Outbound", "Allow", "*", "Internet", 65001),
		rule("DenyAllOutBound", "Outbound", "Deny", "*", "*", 65500),
	}
}

func serveNSGs(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	var items []any
	for _, g := range c.sub.NSGs {
		id := resourceID(c.sub.ID, g.ResourceGroup, "Microsoft.Network/networkSecurityGroups", g.Name)
		var rules []any
		for _, ru := range g.Rules {
			p := map[string]any{
				"protocol": or(ru.Protocol, "Tcp"), "sourcePortRange": "*", "destinationAddressPrefix": "*",
				"access": or(ru.Access, "Allow"), "priority": ru.Priority, "direction": or(ru.Direction, "Inbound"),
				"sourceAddressPrefixes": []any{}, "destinationAddressPrefixes": []any{}, "sourcePortRanges": []any{}, "destinationPortRanges": []any{},
				"provisioningState": "Succeeded",
			}
			if len(ru.Sources) == 1 {
				p["sourceAddressPrefix"] = ru.Sources[0]
			} else {
				p["sourceAddressPrefixes"] = ru.Sources
			}
			if len(ru.Ports) == 1 {
				p["destinationPortRange"] = ru.Ports[0]
			} else {
				p["destinationPortRanges"] = ru.Ports
			}
			rules = append(rules, map[string]any{
				"id": id + "/securityRules/" + ru.Name, "name": ru.Name,
				"type": "Microsoft.Network/networkSecurityGroups/securityRules", "properties": p,
			})
		}
		props := map[string]any{
			"securityRules":        append([]any{}, rules...),
			"defaultSecurityRules": defaultRules(id),
			"provisioningState":    "Succeeded",
			"resourceGuid":         "00000000-0000-0000-0000-000000000000",
		}
		if len(g.Subnets) > 0 {
			props["subnets"] = refs(g.Subnets)
		}
		if len(g.NICs) > 0 {
			props["networkInterfaces"] = refs(g.NICs)
		}
		items = append(items, map[string]any{
			"id": id, "name": g.Name, "type": "Microsoft.Network/networkSecurityGroups",
			"location": g.Location, "properties": props,
		})
	}
	s.writePage(w, r, items)
}

func refs(ids []string) []any {
	out := []any{}
	for _, id := range ids {
		out = append(out, map[string]any{"id": id})
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// WatcherGroup is the resource group Azure creates network watchers in.
const WatcherGroup = "NetworkWatcherRG"

// WatcherName is the name Azure gives the network watcher of a location.
func WatcherName(location string) string { return "NetworkWatcher_" + location }

// watcherLocations are the locations with a network watcher: every one with
// an NSG or a flow log, sorted.
func watcherLocations(sub *Subscription) []string {
	var locs []string
	for _, g := range sub.NSGs {
		locs = append(locs, g.Location)
	}
	for _, f := range sub.FlowLogs {
		locs = append(locs, f.Location)
	}
	slices.Sort(locs)
	return slices.Compact(locs)
}

func watcherID(sub, location string) string {
	return resourceID(sub, WatcherGroup, "Microsoft.Network/networkWatchers", WatcherName(location))
}

func serveWatchers(_ *Server, w http.ResponseWriter, _ *http.Request, c *call) {
	var items []any
	for _, loc := range watcherLocations(c.sub) {
		items = append(items, map[string]any{
			"id": watcherID(c.sub.ID, loc), "name": WatcherName(loc), "type": "Microsoft.Network/networkWatchers",
			"location": loc, "properties": map[string]any{"provisioningState": "Succeeded"},
		})
	}
	// NetworkWatchers_ListAll is not pageable in the REST API.
	writeAll(w, items)
}

func serveFlowLogs(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	name, group := c.params["networkWatcherName"], c.params["resourceGroupName"]
	loc := ""
	for _, l := range watcherLocations(c.sub) {
		if equalFold(WatcherName(l), name) && equalFold(group, WatcherGroup) {
			loc = l
		}
	}
	if loc == "" {
		notFound(w, "Microsoft.Network/networkWatchers", name, group)
		return
	}
	var items []any
	for _, f := range c.sub.FlowLogs {
		if f.Location != loc {
			continue
		}
		items = append(items, map[string]any{
			"id": watcherID(c.sub.ID, loc) + "/flowLogs/" + f.Name, "name": f.Name,
			"type": "Microsoft.Network/networkWatchers/flowLogs", "location": loc,
			"properties": map[string]any{
				"targetResourceId":  f.Target,
				"storageId":         resourceID(c.sub.ID, WatcherGroup, "Microsoft.Storage/storageAccounts", "flowlogs"+loc),
				"enabled":           f.Enabled,
				"retentionPolicy":   map[string]any{"days": 90, "enabled": true},
				"format":            map[string]any{"type": "JSON", "version": 2},
				"provisioningState": "Succeeded",
			},
		})
	}
	s.writePage(w, r, items)
}

func sqlServerID(sub string, sv *SQLServer) string {
	return resourceID(sub, sv.ResourceGroup, "Microsoft.Sql/servers", sv.Name)
}

func serveSQLServers(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	var items []any
	for i := range c.sub.SQLServers {
		sv := &c.sub.SQLServers[i]
		items = append(items, map[string]any{
			"id": sqlServerID(c.sub.ID, sv), "name": sv.Name, "type": "Microsoft.Sql/servers",
			"location": sv.Location, "kind": "v12.0",
			"properties": map[string]any{
				"version": "12.0", "state": "Ready", "administratorLogin": "sqladmin",
				"fullyQualifiedDomainName": sv.Name + ".database.windows.net",
				"publicNetworkAccess":      or(sv.PublicNetworkAccess, "Enabled"),
				"minimalTlsVersion":        "1.2",
			},
		})
	}
	s.writePage(w, r, items)
}

// findServer returns the server the call's path names, answering 404 when
// there is none.
func findServer(w http.ResponseWriter, c *call) *SQLServer {
	for i := range c.sub.SQLServers {
		sv := &c.sub.SQLServers[i]
		if equalFold(sv.Name, c.params["serverName"]) && equalFold(sv.ResourceGroup, c.params["resourceGroupName"]) {
			return sv
		}
	}
	notFound(w, "Microsoft.Sql/servers", c.params["serverName"], c.params["resourceGroupName"])
	return nil
}

func state(on bool) string {
	if on {
		return "Enabled"
	}
	return "Disabled"
}

func serveAuditing(_ *Server, w http.ResponseWriter, _ *http.Request, c *call) {
	sv := findServer(w, c)
	if sv == nil {
		return
	}
	props := map[string]any{"state": state(sv.Auditing), "retentionDays": 0, "isAzureMonitorTargetEnabled": false, "auditActionsAndGroups": []any{}}
	if sv.Auditing {
		props["isAzureMonitorTargetEnabled"] = true
		props["retentionDays"] = 90
		props["auditActionsAndGroups"] = []string{"SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP", "FAILED_DATABASE_AUTHENTICATION_GROUP", "BATCH_COMPLETED_GROUP"}
	}
	writeJSON(w, map[string]any{
		"id": sqlServerID(c.sub.ID, sv) + "/auditingSettings/Default", "name": "Default",
		"type": "Microsoft.Sql/servers/auditingSettings", "properties": props,
	})
}

// databases are the server's databases as Azure lists them: master first.
func databases(sv *SQLServer) []SQLDatabase {
	return append([]SQLDatabase{{Name: "master"}}, sv.Databases...)
}

func serveDatabases(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	sv := findServer(w, c)
	if sv == nil {
		return
	}
	var items []any
	for _, db := range databases(sv) {
		items = append(items, map[string]any{
			"id": sqlServerID(c.sub.ID, sv) + "/databases/" + db.Name, "name": db.Name,
			"type": "Microsoft.Sql/servers/databases", "location": sv.Location,
			"sku":        map[string]any{"name": "GP_S_Gen5", "tier": "GeneralPurpose"},
			"properties": map[string]any{"status": "Online", "collation": "SQL_Latin1_General_CP1_CI_AS"},
		})
	}
	s.writePage(w, r, items)
}

func serveTDE(_ *Server, w http.ResponseWriter, _ *http.Request, c *call) {
	sv := findServer(w, c)
	if sv == nil {
		return
	}
	for _, db := range databases(sv) {
		if !equalFold(db.Name, c.params["databaseName"]) {
			continue
		}
		writeJSON(w, map[string]any{
			"id":   sqlServerID(c.sub.ID, sv) + "/databases/" + db.Name + "/transparentDataEncryption/Current",
			"name": "Current", "type": "Microsoft.Sql/servers/databases/transparentDataEncryption",
			"properties": map[string]any{"state": state(db.TDE)},
		})
		return
	}
	notFound(w, "Microsoft.Sql/servers/databases", sv.Name+"/"+c.params["databaseName"], c.params["resourceGroupName"])
}

// ActivityLogCategories are the categories of the subscription activity log.
func ActivityLogCategories() []string {
	return []string{"Administrative", "Security", "ServiceHealth", "Alert", "Recommendation", "Policy", "Autoscale", "ResourceHealth"}
}

func serveDiagnosticSettings(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	var items []any
	for _, d := range c.sub.DiagnosticSettings {
		var logs []any
		for _, cat := range ActivityLogCategories() {
			logs = append(logs, map[string]any{"category": cat, "enabled": slices.Contains(d.Categories, cat)})
		}
		props := map[string]any{"logs": logs}
		if d.WorkspaceID != "" {
			props["workspaceId"] = d.WorkspaceID
		}
		if d.StorageAccountID != "" {
			props["storageAccountId"] = d.StorageAccountID
		}
		if d.EventHubRuleID != "" {
			props["eventHubAuthorizationRuleId"] = d.EventHubRuleID
		}
		items = append(items, map[string]any{
			"id":   "/subscriptions/" + c.sub.ID + "/providers/microsoft.insights/diagnosticSettings/" + d.Name,
			"name": d.Name, "type": "Microsoft.Insights/diagnosticSettings", "properties": props,
		})
	}
	s.writePage(w, r, items)
}

func servePricings(_ *Server, w http.ResponseWriter, _ *http.Request, c *call) {
	var items []any
	for _, p := range c.sub.DefenderPlans {
		props := map[string]any{"pricingTier": "Free", "freeTrialRemainingTime": "PT0S"}
		if p.Standard {
			props["pricingTier"] = "Standard"
			props["enablementTime"] = createdAt
			if p.SubPlan != "" {
				props["subPlan"] = p.SubPlan
			}
		}
		if p.Deprecated {
			props["deprecated"] = true
		}
		items = append(items, map[string]any{
			"id":   "/subscriptions/" + c.sub.ID + "/providers/Microsoft.Security/pricings/" + p.Name,
			"name": p.Name, "type": "Microsoft.Security/pricings", "properties": props,
		})
	}
	// Pricings_List is not pageable in the REST API.
	writeAll(w, items)
}

func serveDisks(s *Server, w http.ResponseWriter, r *http.Request, c *call) {
	var items []any
	for _, d := range c.sub.Disks {
		enc := map[string]any{"type": or(d.EncryptionType, "EncryptionAtRestWithPlatformKey")}
		if d.DiskEncryptionSet != "" {
			enc["diskEncryptionSetId"] = d.DiskEncryptionSet
		}
		props := map[string]any{
			"diskSizeGB": 128, "diskState": "Unattached", "encryption": enc,
			"provisioningState": "Succeeded", "timeCreated": createdAt,
			"creationData": map[string]any{"createOption": "Empty"},
		}
		if d.ManagedBy != "" {
			props["diskState"] = "Attached"
		}
		if d.ADE {
			props["encryptionSettingsCollection"] = map[string]any{"enabled": true, "encryptionSettingsVersion": "1.1", "encryptionSettings": []any{}}
		}
		item := map[string]any{
			"id":   resourceID(c.sub.ID, d.ResourceGroup, "Microsoft.Compute/disks", d.Name),
			"name": d.Name, "type": "Microsoft.Compute/disks", "location": d.Location,
			"sku": map[string]any{"name": "Premium_LRS", "tier": "Premium"}, "properties": props,
		}
		if d.ManagedBy != "" {
			item["managedBy"] = d.ManagedBy
		}
		items = append(items, item)
	}
	s.writePage(w, r, items)
}
