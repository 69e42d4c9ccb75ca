package gcpsim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// computeBase is the prefix of Compute Engine self links.
const computeBase = "https://www.googleapis.com/compute/v1/projects/"

// writeProto writes a Compute Engine message as the REST API does: the
// protobuf JSON mapping of the v1 API, with 64-bit integers as strings.
func writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL", "backendError", "gcpsim: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write(b)
}

// getComputeProject answers compute.projects.get: the project-wide
// metadata, where enable-oslogin lives.
func (s *Server) getComputeProject(w http.ResponseWriter, c *call) {
	p := c.Project
	md := &computepb.Metadata{Kind: proto.String("compute#metadata"), Fingerprint: proto.String("c2ltLWZpbmdlcnByaW50")}
	keys := make([]string, 0, len(p.Metadata))
	for k := range p.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		md.Items = append(md.Items, &computepb.Items{Key: proto.String(k), Value: proto.String(p.Metadata[k])})
	}
	writeProto(w, &computepb.Project{
		Kind:                   proto.String("compute#project"),
		Id:                     proto.Uint64(uint64(p.Number)),
		Name:                   proto.String(p.ID),
		SelfLink:               proto.String(computeBase + p.ID),
		CommonInstanceMetadata: md,
		DefaultNetworkTier:     proto.String("PREMIUM"),
	})
}

// emptyScopes lists the scope keys of one page of an aggregated listing
// that hold nothing: one per estate region (or its zone b) that is not in
// have. The API sends a warning entry for each.
func (s *Server) emptyScopes(have map[string]bool, prefix string, zonal bool) []string {
	var out []string
	for _, l := range s.estate.Locations {
		if strings.ContainsAny(l, "0123456789") {
			key := prefix + l
			if zonal {
				key += "-b"
			}
			if !have[key] {
				out = append(out, key)
			}
		}
	}
	return out
}

func noResultsWarning(key string) *computepb.Warning {
	return &computepb.Warning{
		Code:    proto.String("NO_RESULTS_ON_PAGE"),
		Message: proto.String("There are no results for scope '" + key + "' on this page."),
		Data:    []*computepb.Data{{Key: proto.String("scope"), Value: proto.String(key)}},
	}
}

// listDisks answers compute.disks.aggregatedList: disks keyed by their
// scope, zones/Z or regions/R.
func (s *Server) listDisks(w http.ResponseWriter, c *call) {
	disks := c.Project.Disks
	pg, ok := pageOf(w, c, len(disks), "maxResults", 500, 500)
	if !ok {
		return
	}
	out := &computepb.DiskAggregatedList{
		Kind:     proto.String("compute#diskAggregatedList"),
		Id:       proto.String("projects/" + c.Project.ID + "/aggregated/disks"),
		SelfLink: proto.String(computeBase + c.Project.ID + "/aggregated/disks"),
		Items:    map[string]*computepb.DisksScopedList{},
	}
	if pg.next != "" {
		out.NextPageToken = proto.String(pg.next)
	}
	have := map[string]bool{}
	for i, d := range disks[pg.start:pg.end] {
		key := "zones/" + d.Zone
		disk := &computepb.Disk{
			Kind:              proto.String("compute#disk"),
			Id:                proto.Uint64(uint64(c.Project.Number)*1000 + uint64(pg.start+i)),
			Name:              proto.String(d.Name),
			SizeGb:            proto.Int64(d.SizeGB),
			Status:            proto.String("READY"),
			Type:              proto.String(computeBase + c.Project.ID + "/" + key + "/diskTypes/pd-balanced"),
			CreationTimestamp: proto.String("2024-05-02T10:00:00.000-07:00"),
		}
		if d.Regional {
			key = "regions/" + d.Zone
			disk.Region = proto.String(computeBase + c.Project.ID + "/" + key)
			disk.ReplicaZones = []string{computeBase + c.Project.ID + "/zones/" + d.Zone + "-b", computeBase + c.Project.ID + "/zones/" + d.Zone + "-c"}
		} else {
			disk.Zone = proto.String(computeBase + c.Project.ID + "/" + key)
		}
		disk.SelfLink = proto.String(computeBase + c.Project.ID + "/" + key + "/disks/" + d.Name)
		switch {
		case d.KMSKey != "":
			disk.DiskEncryptionKey = &computepb.CustomerEncryptionKey{KmsKeyName: proto.String(d.KMSKey)}
		case d.CustomerSupplied:
			disk.DiskEncryptionKey = &computepb.CustomerEncryptionKey{Sha256: proto.String("c2ltdWxhdGVkLWN1c3RvbWVyLXN1cHBsaWVkLWtleQ==")}
		}
		if out.Items[key] == nil {
			out.Items[key] = &computepb.DisksScopedList{}
		}
		out.Items[key].Disks = append(out.Items[key].Disks, disk)
		have[key] = true
	}
	for _, key := range s.emptyScopes(have, "zones/", true) {
		out.Items[key] = &computepb.DisksScopedList{Warning: noResultsWarning(key)}
	}
	writeProto(w, out)
}

// listFirewalls answers compute.firewalls.list.
func (s *Server) listFirewalls(w http.ResponseWriter, c *call) {
	fws := c.Project.Firewalls
	pg, ok := pageOf(w, c, len(fws), "maxResults", 500, 500)
	if !ok {
		return
	}
	out := &computepb.FirewallList{
		Kind:     proto.String("compute#firewallList"),
		Id:       proto.String("projects/" + c.Project.ID + "/global/firewalls"),
		SelfLink: proto.String(computeBase + c.Project.ID + "/global/firewalls"),
	}
	if pg.next != "" {
		out.NextPageToken = proto.String(pg.next)
	}
	for i, f := range fws[pg.start:pg.end] {
		network := f.Network
		if network == "" {
			network = "default"
		}
		dir := f.Direction
		if dir == "" {
			dir = "INGRESS"
		}
		prio := f.Priority
		if prio == 0 {
			prio = 1000
		}
		fw := &computepb.Firewall{
			Kind:              proto.String("compute#firewall"),
			Id:                proto.Uint64(uint64(c.Project.Number)*1000 + uint64(pg.start+i)),
			Name:              proto.String(f.Name),
			Network:           proto.String(computeBase + c.Project.ID + "/global/networks/" + network),
			Direction:         proto.String(dir),
			Priority:          proto.Int32(prio),
			Disabled:          proto.Bool(f.Disabled),
			SourceRanges:      f.SourceRanges,
			SelfLink:          proto.String(computeBase + c.Project.ID + "/global/firewalls/" + f.Name),
			CreationTimestamp: proto.String("2024-05-02T10:00:00.000-07:00"),
			LogConfig:         &computepb.FirewallLogConfig{Enable: proto.Bool(false)},
		}
		if dir == "EGRESS" {
			fw.DestinationRanges, fw.SourceRanges = f.SourceRanges, nil
		}
		for _, a := range f.Allowed {
			fw.Allowed = append(fw.Allowed, &computepb.Allowed{IPProtocol: proto.String(a.Protocol), Ports: a.Ports})
		}
		for _, d := range f.Denied {
			fw.Denied = append(fw.Denied, &computepb.Denied{IPProtocol: proto.String(d.Protocol), Ports: d.Ports})
		}
		out.Items = append(out.Items, fw)
	}
	writeProto(w, out)
}

// listSubnets answers compute.subnetworks.aggregatedList: subnets keyed
// by regions/R.
func (s *Server) listSubnets(w http.ResponseWriter, c *call) {
	subnets := c.Project.Subnets
	pg, ok := pageOf(w, c, len(subnets), "maxResults", 500, 500)
	if !ok {
		return
	}
	out := &computepb.SubnetworkAggregatedList{
		Kind:     proto.String("compute#subnetworkAggregatedList"),
		Id:       proto.String("projects/" + c.Project.ID + "/aggregated/subnetworks"),
		SelfLink: proto.String(computeBase + c.Project.ID + "/aggregated/subnetworks"),
		Items:    map[string]*computepb.SubnetworksScopedList{},
	}
	if pg.next != "" {
		out.NextPageToken = proto.String(pg.next)
	}
	have := map[string]bool{}
	for i, sn := range subnets[pg.start:pg.end] {
		key := "regions/" + sn.Region
		network := sn.Network
		if network == "" {
			network = "default"
		}
		purpose := sn.Purpose
		if purpose == "" {
			purpose = "PRIVATE"
		}
		sub := &computepb.Subnetwork{
			Kind:           proto.String("compute#subnetwork"),
			Id:             proto.Uint64(uint64(c.Project.Number)*1000 + uint64(pg.start+i)),
			Name:           proto.String(sn.Name),
			Network:        proto.String(computeBase + c.Project.ID + "/global/networks/" + network),
			Region:         proto.String(computeBase + c.Project.ID + "/" + key),
			IpCidrRange:    proto.String(sn.CIDR),
			Purpose:        proto.String(purpose),
			GatewayAddress: proto.String(gatewayOf(sn.CIDR)),
			SelfLink:       proto.String(computeBase + c.Project.ID + "/" + key + "/subnetworks/" + sn.Name),
			StackType:      proto.String("IPV4_ONLY"),
		}
		// Proxy-only and Private Service Connect subnets have no flow log
		// settings at all.
		if purpose == "PRIVATE" {
			sub.EnableFlowLogs = proto.Bool(sn.FlowLogs)
			sub.LogConfig = &computepb.SubnetworkLogConfig{Enable: proto.Bool(sn.FlowLogs)}
			if sn.FlowLogs {
				sub.LogConfig.AggregationInterval = proto.String("INTERVAL_5_SEC")
				sub.LogConfig.FlowSampling = proto.Float32(0.5)
				sub.LogConfig.Metadata = proto.String("INCLUDE_ALL_METADATA")
			}
		}
		if out.Items[key] == nil {
			out.Items[key] = &computepb.SubnetworksScopedList{}
		}
		out.Items[key].Subnetworks = append(out.Items[key].Subnetworks, sub)
		have[key] = true
	}
	for _, key := range s.emptyScopes(have, "regions/", false) {
		out.Items[key] = &computepb.SubnetworksScopedList{Warning: noResultsWarning(key)}
	}
	writeProto(w, out)
}

// gatewayOf is the first address of a CIDR block, where GCP puts a
// subnet's gateway.
func gatewayOf(cidr string) string {
	ip, _, _ := strings.Cut(cidr, "/")
	parts := strings.Split(ip, ".")
	if len(parts) != 4 {
		return ""
	}
	last, err := strconv.Atoi(parts[3])
	if err != nil {
		return ""
	}
	parts[3] = strconv.Itoa(last + 1)
	return strings.Join(parts, ".")
}
