package azure

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v6"
)

// Network check IDs.
const (
	checkNSGAdminPorts = "azure.network.nsg_admin_ports_open"
	checkNSGAllPorts   = "azure.network.nsg_all_ports_open"
	checkNSGFlowLogs   = "azure.network.nsg_flow_logs"
)

func networkChecks() []string {
	return []string{checkNSGAdminPorts, checkNSGAllPorts, checkNSGFlowLogs}
}

// nsgAPI, watchersAPI and flowLogsAPI name the network calls the checks
// make.
type nsgAPI interface {
	NewListAllPager(options *armnetwork.SecurityGroupsClientListAllOptions) *runtime.Pager[armnetwork.SecurityGroupsClientListAllResponse]
}

type watchersAPI interface {
	NewListAllPager(options *armnetwork.WatchersClientListAllOptions) *runtime.Pager[armnetwork.WatchersClientListAllResponse]
}

type flowLogsAPI interface {
	NewListPager(resourceGroupName, networkWatcherName string, options *armnetwork.FlowLogsClientListOptions) *runtime.Pager[armnetwork.FlowLogsClientListResponse]
}

// networkScanner checks every network security group for inbound rules that
// open an administration port or every port to the internet, and for a flow
// log recording its traffic.
func networkScanner() scanner {
	return scanner{
		service: "network",
		checks:  networkChecks(),
		locates: true,
		scan: func(ctx context.Context, s *scope) error {
			f, err := armnetwork.NewClientFactory(s.subscription, s.c.cred, s.c.opts)
			if err != nil {
				return fmt.Errorf("create network client: %w", err)
			}
			return scanNetwork(ctx, s, f.NewSecurityGroupsClient(), f.NewWatchersClient(), f.NewFlowLogsClient())
		},
	}
}

func scanNetwork(ctx context.Context, s *scope, nsgs nsgAPI, watchers watchersAPI, flowLogs flowLogsAPI) error {
	// Flow logs first: they are few (one watcher per location), and then
	// each group's verdicts stream as the groups are listed.
	idx := indexFlowLogs(ctx, s, watchers, flowLogs)
	n := 0
	for p := nsgs.NewListAllPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list network security groups in %s: %w", s.subscription, err)
		}
		for _, g := range page.Value {
			if g == nil || g.ID == nil {
				continue
			}
			n++
			if err := checkNSG(ctx, s, g, idx); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		for _, check := range networkChecks() {
			if err := s.notApplicable(ctx, check, "*", "", "the subscription has no network security groups"); err != nil {
				return err
			}
		}
	}
	return nil
}

// flowLogIndex is what the network watchers know about flow logs.
type flowLogIndex struct {
	// byTarget maps a lower-cased target resource ID to its flow logs.
	byTarget map[string][]flowLogRef
	// err, when set, is why the watchers could not be listed at all.
	err error
	// failed maps a location to why its watcher's flow logs could not be
	// listed: a flow log lives in the watcher of its target's location.
	failed map[string]error
}

type flowLogRef struct {
	id      string
	enabled bool
}

func indexFlowLogs(ctx context.Context, s *scope, watchers watchersAPI, flowLogs flowLogsAPI) *flowLogIndex {
	idx := &flowLogIndex{byTarget: map[string][]flowLogRef{}, failed: map[string]error{}}
	for p := watchers.NewListAllPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			idx.err = fmt.Errorf("list network watchers in %s: %w", s.subscription, err)
			return idx
		}
		for _, w := range page.Value {
			if w == nil || w.ID == nil {
				continue
			}
			loc := location(w.Location)
			rid, err := arm.ParseResourceID(*w.ID)
			if err != nil {
				idx.failed[loc] = fmt.Errorf("parse network watcher ID %s: %w", *w.ID, err)
				continue
			}
			if err := idx.add(ctx, flowLogs, rid); err != nil {
				idx.failed[loc] = err
			}
		}
	}
	return idx
}

func (idx *flowLogIndex) add(ctx context.Context, api flowLogsAPI, watcher *arm.ResourceID) error {
	for p := api.NewListPager(watcher.ResourceGroupName, watcher.Name, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list flow logs of network watcher %s: %w", watcher.Name, err)
		}
		for _, f := range page.Value {
			if f == nil || f.ID == nil || f.Properties == nil || f.Properties.TargetResourceID == nil {
				continue
			}
			target := strings.ToLower(*f.Properties.TargetResourceID)
			idx.byTarget[target] = append(idx.byTarget[target], flowLogRef{id: *f.ID, enabled: f.Properties.Enabled != nil && *f.Properties.Enabled})
		}
	}
	return nil
}

// enabledOn returns the ID of an enabled flow log on target, or "".
func (idx *flowLogIndex) enabledOn(target string) string {
	for _, f := range idx.byTarget[strings.ToLower(target)] {
		if f.enabled {
			return f.id
		}
	}
	return ""
}

func checkNSG(ctx context.Context, s *scope, g *armnetwork.SecurityGroup, idx *flowLogIndex) error {
	id, loc := *g.ID, location(g.Location)
	if err := s.located(ctx, id, loc); err != nil {
		return err
	}
	rules := inboundRules(g)
	admin := map[string]any{"open_rule": false}
	adminOK, adminDetail := true, "group admits no one from the internet to SSH (22) or RDP (3389)"
	for _, pr := range adminProbes() {
		if r := decidingRule(rules, pr); r != nil && isAllow(r) {
			adminOK, admin = false, map[string]any{"rule": ruleExcerpt(r)}
			adminDetail = fmt.Sprintf("rule %s admits the internet to %s", str(r.Name), pr)
			break
		}
	}
	if err := s.verdict(ctx, checkNSGAdminPorts, id, loc, adminOK, adminDetail, admin); err != nil {
		return err
	}
	all := map[string]any{"open_rule": false}
	allOK, allDetail := true, "group admits no one from the internet on every port"
	for _, pr := range allPortProbes() {
		if r := decidingRule(rules, pr); r != nil && isAllow(r) {
			allOK, all = false, map[string]any{"rule": ruleExcerpt(r)}
			allDetail = fmt.Sprintf("rule %s admits the internet on every %s port", str(r.Name), strings.ToUpper(pr.protocol))
			break
		}
	}
	if err := s.verdict(ctx, checkNSGAllPorts, id, loc, allOK, allDetail, all); err != nil {
		return err
	}
	return checkFlowLogs(ctx, s, g, idx)
}

// probe is internet traffic to a destination port over a protocol; port 0
// stands for every port at once.
type probe struct {
	port     int
	protocol string
}

// String names the probe as a detail sentence does: "SSH (22/tcp)".
func (p probe) String() string {
	name := map[int]string{22: "SSH", 3389: "RDP"}[p.port]
	return fmt.Sprintf("%s (%d/%s)", name, p.port, strings.ToLower(p.protocol))
}

// adminProbes are the remote administration ports no group should open to
// the internet: SSH, and RDP over TCP and UDP.
func adminProbes() []probe { return []probe{{22, "Tcp"}, {3389, "Tcp"}, {3389, "Udp"}} }

// allPortProbes ask whether every TCP or UDP port is open.
func allPortProbes() []probe { return []probe{{0, "Tcp"}, {0, "Udp"}} }

// inboundRules are the group's inbound rules, custom and default, in the
// order Azure evaluates them: lowest priority number first.
func inboundRules(g *armnetwork.SecurityGroup) []*armnetwork.SecurityRule {
	var out []*armnetwork.SecurityRule
	if g.Properties != nil {
		for _, r := range slices.Concat(g.Properties.SecurityRules, g.Properties.DefaultSecurityRules) {
			if r == nil || r.Properties == nil || r.Properties.Direction == nil ||
				!strings.EqualFold(string(*r.Properties.Direction), string(armnetwork.SecurityRuleDirectionInbound)) {
				continue
			}
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *armnetwork.SecurityRule) int {
		return int(priority(a) - priority(b))
	})
	return out
}

func priority(r *armnetwork.SecurityRule) int32 {
	if r.Properties.Priority == nil {
		return 65535
	}
	return *r.Properties.Priority
}

func isAllow(r *armnetwork.SecurityRule) bool {
	return r.Properties.Access != nil && strings.EqualFold(string(*r.Properties.Access), string(armnetwork.SecurityRuleAccessAllow))
}

// decidingRule is the first rule, in priority order, that applies to
// internet traffic of the probe: Azure stops at the first match, so a
// higher-priority deny shadows a later allow. nil means no rule matched
// (the default DenyAllInBound would).
func decidingRule(rules []*armnetwork.SecurityRule, pr probe) *armnetwork.SecurityRule {
	for _, r := range rules {
		if fromInternet(r) && protocolMatches(r, pr.protocol) && portsCover(r, pr.port) {
			return r
		}
	}
	return nil
}

// fromInternet reports whether a rule's sources include the whole
// internet: *, Any, the Internet service tag or an all-addresses prefix.
func fromInternet(r *armnetwork.SecurityRule) bool {
	for _, src := range ruleSources(r) {
		switch strings.ToLower(strings.TrimSpace(src)) {
		case "*", "any", "internet", "0.0.0.0/0", "0.0.0.0", "::/0", "::":
			return true
		}
	}
	return false
}

func ruleSources(r *armnetwork.SecurityRule) []string {
	var out []string
	if p := r.Properties.SourceAddressPrefix; p != nil {
		out = append(out, *p)
	}
	for _, p := range r.Properties.SourceAddressPrefixes {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func protocolMatches(r *armnetwork.SecurityRule, protocol string) bool {
	if r.Properties.Protocol == nil {
		return false
	}
	p := string(*r.Properties.Protocol)
	return p == "*" || strings.EqualFold(p, protocol)
}

func rulePorts(r *armnetwork.SecurityRule) []string {
	var out []string
	if p := r.Properties.DestinationPortRange; p != nil {
		out = append(out, *p)
	}
	for _, p := range r.Properties.DestinationPortRanges {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// portsCover reports whether the rule's destination ports include port, or
// for port 0 every port. Unparseable ranges are ignored: ARM validates
// them, so they do not occur.
func portsCover(r *armnetwork.SecurityRule, port int) bool {
	for _, pr := range rulePorts(r) {
		pr = strings.TrimSpace(pr)
		if pr == "*" {
			return true
		}
		lo, hi, isRange := strings.Cut(pr, "-")
		if !isRange {
			hi = lo
		}
		from, err1 := strconv.Atoi(lo)
		to, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			continue
		}
		if port == 0 && from <= 0 && to >= 65535 || port != 0 && from <= port && port <= to {
			return true
		}
	}
	return false
}

// ruleExcerpt is the part of a rule that shows it is open.
func ruleExcerpt(r *armnetwork.SecurityRule) map[string]any {
	sources, ports := []any{}, []any{}
	for _, s := range ruleSources(r) {
		sources = append(sources, s)
	}
	for _, p := range rulePorts(r) {
		ports = append(ports, p)
	}
	m := map[string]any{"name": str(r.Name), "priority": int(priority(r)), "sources": sources, "destination_ports": ports}
	if r.Properties.Protocol != nil {
		m["protocol"] = string(*r.Properties.Protocol)
	}
	if r.Properties.Access != nil {
		m["access"] = string(*r.Properties.Access)
	}
	return m
}

// checkFlowLogs passes a group whose traffic an enabled flow log records:
// one on the group itself (an NSG flow log), or, for a group attached to
// subnets and network interfaces, one on each of them or on each subnet's
// virtual network (VNet flow logs, which replace NSG flow logs).
func checkFlowLogs(ctx context.Context, s *scope, g *armnetwork.SecurityGroup, idx *flowLogIndex) error {
	id, loc := *g.ID, location(g.Location)
	if idx.err != nil {
		return s.notAssessed(ctx, checkNSGFlowLogs, id, loc, idx.err)
	}
	if err, ok := idx.failed[loc]; ok {
		return s.notAssessed(ctx, checkNSGFlowLogs, id, loc, err)
	}
	if fl := idx.enabledOn(id); fl != "" {
		return s.verdict(ctx, checkNSGFlowLogs, id, loc, true, "an enabled NSG flow log records the group's traffic",
			map[string]any{"flow_logs": []any{fl}})
	}
	var attached []string
	if g.Properties != nil {
		for _, sn := range g.Properties.Subnets {
			if sn != nil && sn.ID != nil {
				attached = append(attached, *sn.ID)
			}
		}
		for _, nic := range g.Properties.NetworkInterfaces {
			if nic != nil && nic.ID != nil {
				attached = append(attached, *nic.ID)
			}
		}
	}
	var covering, uncovered []any
	for _, a := range attached {
		fl := idx.enabledOn(a)
		if vnet, _, isSubnet := strings.Cut(strings.ToLower(a), "/subnets/"); fl == "" && isSubnet {
			fl = idx.enabledOn(vnet)
		}
		if fl == "" {
			uncovered = append(uncovered, a)
		} else if !slices.Contains(covering, any(fl)) {
			covering = append(covering, fl)
		}
	}
	if len(attached) > 0 && len(uncovered) == 0 {
		return s.verdict(ctx, checkNSGFlowLogs, id, loc, true,
			"enabled virtual network flow logs record the traffic of every subnet and interface the group is attached to",
			map[string]any{"flow_logs": covering})
	}
	var disabled []any
	for _, f := range idx.byTarget[strings.ToLower(id)] {
		disabled = append(disabled, f.id)
	}
	observed := map[string]any{"flow_logs": []any{}}
	detail := "no enabled flow log records the group's traffic"
	switch {
	case len(disabled) > 0:
		observed["disabled_flow_logs"] = disabled
		detail = "the group's flow log is disabled"
	case len(uncovered) > 0:
		observed["uncovered"] = uncovered
	}
	return s.verdict(ctx, checkNSGFlowLogs, id, loc, false, detail, observed)
}
