package gcp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"
)

// Compute Engine check IDs.
const (
	checkDiskCMEK           = "gcp.compute.disk_cmek"
	checkFirewallAdminPorts = "gcp.compute.firewall_admin_ports_open"
	checkFirewallAllPorts   = "gcp.compute.firewall_all_ports_open"
	checkSubnetFlowLogs     = "gcp.compute.subnet_flow_logs"
	checkOSLogin            = "gcp.compute.os_login"
)

// computePageSize is how many items one Compute Engine listing page asks
// for, the most the API allows.
const computePageSize = 500

// computeResource is the full resource name of a Compute Engine resource
// at path (zones/Z/disks/D, global/firewalls/F) in project.
func computeResource(project, path string) string {
	return "//compute.googleapis.com/projects/" + project + "/" + path
}

// walkAggregated pages through a Compute aggregated list, whose pairs key
// a scope (zones/Z, regions/R; scopes without items carry only a warning)
// to its items, and visits every item in a collected location. It returns
// how many it visited.
func walkAggregated[P, T any](s *scope, what string, next func() (P, error), split func(P) (string, []T), visit func(key string, p place, item T) error) (int, error) {
	n := 0
	for {
		pair, err := next()
		if errors.Is(err, iterator.Done) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("list %s of project %s: %w", what, s.project, err)
		}
		key, items := split(pair)
		p := placeAt(lastSegment(key))
		if len(items) == 0 || !s.c.inScope(p) {
			continue
		}
		for _, item := range items {
			n++
			if err := visit(key, p, item); err != nil {
				return n, err
			}
		}
	}
}

// diskScanner checks that every persistent disk is encrypted with a key
// the customer controls.
func diskScanner() scanner {
	return scanner{
		service: "compute",
		area:    "disks",
		checks:  []string{checkDiskCMEK},
		locates: true,
		scan:    scanDisks,
	}
}

func scanDisks(ctx context.Context, s *scope) error {
	api, err := compute.NewDisksRESTClient(ctx, s.c.api.computeOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("create Compute Engine disks client: %w", err)
	}
	defer api.Close()
	req := &computepb.AggregatedListDisksRequest{Project: s.project, MaxResults: proto.Uint32(computePageSize)}
	it := api.AggregatedList(ctx, req, noRetry())
	n, err := walkAggregated(s, "disks", it.Next,
		func(pair compute.DisksScopedListPair) (string, []*computepb.Disk) {
			return pair.Key, pair.Value.GetDisks()
		},
		func(key string, p place, d *computepb.Disk) error { return checkDisk(ctx, s, key, p, d) })
	if err != nil {
		return err
	}
	if n == 0 {
		return s.noneFound(ctx, "the project has no persistent disks in the collected locations", checkDiskCMEK)
	}
	return nil
}

// checkDisk decides disk_cmek: every disk is encrypted at rest, so the
// question is whose key protects it. A Cloud KMS key (CMEK) or a key the
// customer supplies with each request (CSEK) passes.
func checkDisk(ctx context.Context, s *scope, scopeKey string, p place, d *computepb.Disk) error {
	res := computeResource(s.project, scopeKey+"/disks/"+d.GetName())
	if err := s.located(ctx, res, p); err != nil {
		return err
	}
	k := d.GetDiskEncryptionKey()
	kms, csek := k.GetKmsKeyName(), k.GetSha256() != "" && k.GetKmsKeyName() == ""
	observed := map[string]any{"kms_key_name": kms, "customer_supplied_key": csek}
	switch {
	case kms != "":
		return s.verdict(ctx, checkDiskCMEK, res, p.name, true, "disk is encrypted with the customer-managed key "+kms, observed)
	case csek:
		return s.verdict(ctx, checkDiskCMEK, res, p.name, true, "disk is encrypted with a customer-supplied key", observed)
	}
	return s.verdict(ctx, checkDiskCMEK, res, p.name, false, "disk is encrypted with a Google-managed key only", observed)
}

// firewallScanner checks every VPC firewall rule for ingress open to the
// whole internet on an administration port or on every port. Firewall
// rules are global to a project.
func firewallScanner() scanner {
	return scanner{
		service: "compute",
		area:    "firewalls",
		checks:  []string{checkFirewallAdminPorts, checkFirewallAllPorts},
		scan:    scanFirewalls,
	}
}

func scanFirewalls(ctx context.Context, s *scope) error {
	api, err := compute.NewFirewallsRESTClient(ctx, s.c.api.computeOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("create Compute Engine firewalls client: %w", err)
	}
	defer api.Close()
	req := &computepb.ListFirewallsRequest{Project: s.project, MaxResults: proto.Uint32(computePageSize)}
	it := api.List(ctx, req, noRetry())
	n := 0
	for {
		fw, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("list firewall rules of project %s: %w", s.project, err)
		}
		n++
		if err := checkFirewall(ctx, s, fw); err != nil {
			return err
		}
	}
	if n == 0 {
		return s.noneFound(ctx, "the project has no VPC firewall rules", checkFirewallAdminPorts, checkFirewallAllPorts)
	}
	return nil
}

// adminPorts are the remote administration ports no rule should open to
// the internet: SSH and RDP.
func adminPorts() []int { return []int{22, 3389} }

// checkFirewall decides both firewall checks on one rule. A rule that
// cannot let anything in (egress, deny, disabled) passes or does not apply
// with the reason in the detail.
func checkFirewall(ctx context.Context, s *scope, fw *computepb.Firewall) error {
	res := computeResource(s.project, "global/firewalls/"+fw.GetName())
	checks := []string{checkFirewallAdminPorts, checkFirewallAllPorts}
	switch {
	case fw.GetDirection() == "EGRESS":
		for _, check := range checks {
			if err := s.notApplicable(ctx, check, res, "", "egress rule: it governs outgoing traffic only"); err != nil {
				return err
			}
		}
		return nil
	case fw.GetDisabled() || len(fw.GetAllowed()) == 0:
		detail := "rule denies traffic, so it opens nothing"
		if fw.GetDisabled() {
			detail = "rule is disabled, so it opens nothing"
		}
		for _, check := range checks {
			if err := s.verdict(ctx, check, res, "", true, detail, map[string]any{"open_rule": false, "disabled": fw.GetDisabled()}); err != nil {
				return err
			}
		}
		return nil
	}
	var admin, all map[string]any
	for _, src := range worldSources(fw.GetSourceRanges()) {
		for _, a := range fw.GetAllowed() {
			if admin == nil && opensAdminPort(a) {
				admin = ruleExcerpt(a, src)
			}
			if all == nil && opensAllPorts(a) {
				all = ruleExcerpt(a, src)
			}
		}
	}
	if err := worldRuleVerdict(ctx, s, checkFirewallAdminPorts, res, admin,
		"rule admits the internet to SSH or RDP", "rule admits no one from the internet to SSH or RDP"); err != nil {
		return err
	}
	return worldRuleVerdict(ctx, s, checkFirewallAllPorts, res, all,
		"rule admits the internet on every port", "rule admits no one from the internet on every port")
}

// worldRuleVerdict fails when an offending part of the rule was found,
// whose excerpt is the evidence; a pass has nothing to show.
func worldRuleVerdict(ctx context.Context, s *scope, check, res string, rule map[string]any, fail, pass string) error {
	if rule != nil {
		return s.verdict(ctx, check, res, "", false, fail, map[string]any{"rule": rule})
	}
	return s.verdict(ctx, check, res, "", true, pass, map[string]any{"open_rule": false})
}

// worldSources returns the rule's source ranges that are the whole
// internet.
func worldSources(ranges []string) []string {
	var out []string
	for _, r := range ranges {
		if r == "0.0.0.0/0" || r == "::/0" {
			out = append(out, r)
		}
	}
	return out
}

// portProtocol reports whether an allowed entry's ports mean ports: TCP,
// UDP and SCTP, by name or number. The other protocols take no ports.
func portProtocol(a *computepb.Allowed) bool {
	switch strings.ToLower(a.GetIPProtocol()) {
	case "tcp", "udp", "sctp", "6", "17", "132":
		return true
	}
	return false
}

// allTraffic reports whether an allowed entry is for every protocol.
func allTraffic(a *computepb.Allowed) bool { return strings.ToLower(a.GetIPProtocol()) == "all" }

// portRanges reads an allowed entry's ports ("22", "1000-2000"); no ports
// means every port. An unreadable entry is skipped: the API validates
// them, so it cannot occur.
func portRanges(a *computepb.Allowed) [][2]int {
	if len(a.GetPorts()) == 0 {
		return [][2]int{{0, 65535}}
	}
	var out [][2]int
	for _, p := range a.GetPorts() {
		lo, hi, isRange := strings.Cut(p, "-")
		from, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		to := from
		if isRange {
			if to, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		out = append(out, [2]int{from, to})
	}
	return out
}

func opensAdminPort(a *computepb.Allowed) bool {
	if allTraffic(a) {
		return true
	}
	if !portProtocol(a) {
		return false
	}
	for _, r := range portRanges(a) {
		for _, port := range adminPorts() {
			if r[0] <= port && port <= r[1] {
				return true
			}
		}
	}
	return false
}

func opensAllPorts(a *computepb.Allowed) bool {
	if allTraffic(a) {
		return true
	}
	if !portProtocol(a) {
		return false
	}
	for _, r := range portRanges(a) {
		if r[0] <= 1 && r[1] >= 65535 {
			return true
		}
	}
	return false
}

// ruleExcerpt is the part of a rule that shows it is open.
func ruleExcerpt(a *computepb.Allowed, source string) map[string]any {
	m := map[string]any{"ip_protocol": a.GetIPProtocol(), "source": source}
	if len(a.GetPorts()) > 0 {
		m["ports"] = stringsAny(a.GetPorts())
	}
	return m
}

// subnetScanner checks that every subnet records its flows in VPC Flow
// Logs.
func subnetScanner() scanner {
	return scanner{
		service: "compute",
		area:    "subnetworks",
		checks:  []string{checkSubnetFlowLogs},
		locates: true,
		scan:    scanSubnets,
	}
}

func scanSubnets(ctx context.Context, s *scope) error {
	api, err := compute.NewSubnetworksRESTClient(ctx, s.c.api.computeOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("create Compute Engine subnetworks client: %w", err)
	}
	defer api.Close()
	req := &computepb.AggregatedListSubnetworksRequest{Project: s.project, MaxResults: proto.Uint32(computePageSize)}
	it := api.AggregatedList(ctx, req, noRetry())
	n, err := walkAggregated(s, "subnetworks", it.Next,
		func(pair compute.SubnetworksScopedListPair) (string, []*computepb.Subnetwork) {
			return pair.Key, pair.Value.GetSubnetworks()
		},
		func(key string, p place, sn *computepb.Subnetwork) error { return checkSubnet(ctx, s, key, p, sn) })
	if err != nil {
		return err
	}
	if n == 0 {
		return s.noneFound(ctx, "the project has no VPC subnetworks in the collected locations", checkSubnetFlowLogs)
	}
	return nil
}

// checkSubnet decides subnet_flow_logs. Only subnets that carry VM traffic
// (purpose PRIVATE, or none given) can log flows; proxy-only and Private
// Service Connect subnets are not applicable.
func checkSubnet(ctx context.Context, s *scope, scopeKey string, p place, sn *computepb.Subnetwork) error {
	res := computeResource(s.project, scopeKey+"/subnetworks/"+sn.GetName())
	if err := s.located(ctx, res, p); err != nil {
		return err
	}
	purpose := sn.GetPurpose()
	if purpose != "" && purpose != "PRIVATE" && purpose != "PRIVATE_RFC_1918" {
		return s.notApplicableObserved(ctx, checkSubnetFlowLogs, res, p.name,
			fmt.Sprintf("%s subnet: VPC Flow Logs apply only to subnets for VM traffic", purpose), map[string]any{"purpose": purpose})
	}
	// enableFlowLogs is the older spelling of logConfig.enable; the API
	// still reports either.
	on := sn.GetLogConfig().GetEnable() || sn.GetEnableFlowLogs()
	observed := map[string]any{"flow_logs": on}
	if lc := sn.GetLogConfig(); lc != nil && on {
		observed["aggregation_interval"] = lc.GetAggregationInterval()
		observed["flow_sampling"] = strconv.FormatFloat(float64(lc.GetFlowSampling()), 'g', -1, 32)
	}
	detail := "the subnet records its network flows in VPC Flow Logs"
	if !on {
		detail = "the subnet's network flows are not logged"
	}
	return s.verdict(ctx, checkSubnetFlowLogs, res, p.name, on, detail, observed)
}

// osLoginScanner checks that the project's Compute Engine metadata turns
// on OS Login, which ties SSH access to IAM identities.
func osLoginScanner() scanner {
	return scanner{
		service: "compute",
		area:    "metadata",
		checks:  []string{checkOSLogin},
		scan:    scanOSLogin,
	}
}

// scanOSLogin decides os_login from the project-wide metadata key
// enable-oslogin. An instance can override it in its own metadata and an
// organisation policy can enforce it; neither is read here.
func scanOSLogin(ctx context.Context, s *scope) error {
	api, err := compute.NewProjectsRESTClient(ctx, s.c.api.computeOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("create Compute Engine projects client: %w", err)
	}
	defer api.Close()
	p, err := api.Get(ctx, &computepb.GetProjectRequest{Project: s.project}, noRetry())
	if err != nil {
		return fmt.Errorf("get Compute Engine metadata of project %s: %w", s.project, err)
	}
	observed := map[string]any{"enable_oslogin": ""}
	for _, item := range p.GetCommonInstanceMetadata().GetItems() {
		switch item.GetKey() {
		case "enable-oslogin":
			observed["enable_oslogin"] = item.GetValue()
		case "enable-oslogin-2fa":
			observed["enable_oslogin_2fa"] = item.GetValue()
		}
	}
	value := observed["enable_oslogin"].(string)
	on := strings.EqualFold(value, "true")
	detail := "OS Login is enabled in the project metadata: SSH access follows IAM"
	switch {
	case value == "":
		detail = "the project metadata does not set enable-oslogin, so VMs accept SSH keys from metadata"
	case !on:
		detail = fmt.Sprintf("the project metadata sets enable-oslogin to %q, so VMs accept SSH keys from metadata", value)
	}
	return s.verdict(ctx, checkOSLogin, "//compute.googleapis.com/projects/"+s.project, "", on, detail, observed)
}
