package awssim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ec2DefaultPage is the page size of Describe calls without MaxResults.
// Real EC2 returns everything then; the simulator pages anyway so that
// clients which forget MaxResults still exercise NextToken.
const ec2DefaultPage = 50

// serveEC2 answers the EC2 query protocol: a form body naming the Action,
// an XML response in the EC2 namespace with lists as <item> elements, and
// NextToken paging bounded by MaxResults.
func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request, req *request) {
	if req.Form.Get("DryRun") == "true" {
		writeError(w, req, APIError{Status: 412, Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."})
		return
	}
	reg := req.Account.Regions[req.Region]
	if reg == nil {
		// A region the account never used answers like an empty one.
		reg = &Region{Name: req.Region}
	}
	var err *APIError
	switch req.Action {
	case "DescribeRegions":
		out := ec2RegionsResponse{XMLName: ec2Root(req), RequestID: requestID}
		for _, name := range s.estate.Regions {
			out.Regions = append(out.Regions, ec2RegionItem{Name: name, Endpoint: "ec2." + name + ".amazonaws.com", OptIn: "opt-in-not-required"})
		}
		writeXML(w, out)
	case "GetEbsEncryptionByDefault":
		writeXML(w, ec2EBSDefaultResponse{XMLName: ec2Root(req), RequestID: requestID, Enabled: reg.EBSDefaultEncryption, SSEType: "sse-ebs"})
	case "DescribeVolumes":
		err = s.ec2Volumes(w, req, reg)
	case "DescribeSecurityGroups":
		err = s.ec2SecurityGroups(w, req, reg)
	case "DescribeVpcs":
		err = s.ec2VPCs(w, req, reg)
	case "DescribeFlowLogs":
		err = s.ec2FlowLogs(w, req, reg)
	default:
		err = &APIError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", req.Action)}
	}
	if err != nil {
		writeError(w, req, *err)
	}
}

func (s *Server) ec2Volumes(w http.ResponseWriter, req *request, reg *Region) *APIError {
	fields := map[string]func(*Volume) string{
		"volume-id": func(v *Volume) string { return v.ID },
		"encrypted": func(v *Volume) string { return strconv.FormatBool(v.Encrypted) },
	}
	page, next, err := ec2Select(req.Form, reg.Volumes, fields, map[string]string{"VolumeId": "volume-id"}, 500)
	if err != nil {
		return err
	}
	out := ec2VolumesResponse{XMLName: ec2Root(req), RequestID: requestID, NextToken: next}
	for _, v := range page {
		item := ec2Volume{ID: v.ID, Size: v.SizeGiB, Zone: reg.Name + "a", Status: "in-use", Created: "2024-03-01T09:00:00.000Z",
			Type: "gp3", Encrypted: v.Encrypted}
		if v.Encrypted {
			item.KMSKeyID = "arn:aws:kms:" + reg.Name + ":" + req.Account.ID + ":alias/aws/ebs"
		}
		out.Volumes = append(out.Volumes, item)
	}
	writeXML(w, out)
	return nil
}

func (s *Server) ec2SecurityGroups(w http.ResponseWriter, req *request, reg *Region) *APIError {
	fields := map[string]func(*SecurityGroup) string{
		"group-id":   func(g *SecurityGroup) string { return g.ID },
		"group-name": func(g *SecurityGroup) string { return g.Name },
		"vpc-id":     func(g *SecurityGroup) string { return g.VPCID },
	}
	page, next, err := ec2Select(req.Form, reg.SecurityGroups, fields, map[string]string{"GroupId": "group-id", "GroupName": "group-name"}, 1000)
	if err != nil {
		return err
	}
	out := ec2SecurityGroupsResponse{XMLName: ec2Root(req), RequestID: requestID, NextToken: next}
	for _, g := range page {
		item := ec2SecurityGroup{Owner: req.Account.ID, ID: g.ID, Name: g.Name, Description: "group " + g.Name, VPCID: g.VPCID,
			Egress: []ec2Permission{{Protocol: "-1", IPv4: []ec2Range{{CIDR: "0.0.0.0/0"}}}}}
		for _, rule := range g.Ingress {
			p := ec2Permission{Protocol: rule.Protocol}
			if rule.Protocol != "-1" {
				p.FromPort, p.ToPort = &rule.FromPort, &rule.ToPort
			}
			for _, c := range rule.CIDRs {
				p.IPv4 = append(p.IPv4, ec2Range{CIDR: c})
			}
			for _, c := range rule.CIDRv6s {
				p.IPv6 = append(p.IPv6, ec2RangeV6{CIDR: c})
			}
			item.Ingress = append(item.Ingress, p)
		}
		out.Groups = append(out.Groups, item)
	}
	writeXML(w, out)
	return nil
}

func (s *Server) ec2VPCs(w http.ResponseWriter, req *request, reg *Region) *APIError {
	fields := map[string]func(*VPC) string{
		"vpc-id": func(v *VPC) string { return v.ID },
	}
	page, next, err := ec2Select(req.Form, reg.VPCs, fields, map[string]string{"VpcId": "vpc-id"}, 1000)
	if err != nil {
		return err
	}
	out := ec2VPCsResponse{XMLName: ec2Root(req), RequestID: requestID, NextToken: next}
	for _, v := range page {
		// A stable second octet per VPC, so pages agree however they split.
		octet := 0
		for _, c := range v.ID {
			octet = (octet*31 + int(c)) % 256
		}
		out.VPCs = append(out.VPCs, ec2VPC{ID: v.ID, Owner: req.Account.ID, State: "available",
			CIDR: fmt.Sprintf("10.%d.0.0/16", octet), DHCPOptions: "dopt-0sim", Tenancy: "default"})
	}
	writeXML(w, out)
	return nil
}

// ec2FlowLogs lists the flow logs of the region: one active VPC-level
// flow log for each VPC that has FlowLogs set.
func (s *Server) ec2FlowLogs(w http.ResponseWriter, req *request, reg *Region) *APIError {
	var logs []VPC
	for _, v := range reg.VPCs {
		if v.FlowLogs {
			logs = append(logs, v)
		}
	}
	fields := map[string]func(*VPC) string{
		"resource-id": func(v *VPC) string { return v.ID },
		"flow-log-id": func(v *VPC) string { return ec2FlowLogID(v.ID) },
	}
	page, next, err := ec2Select(req.Form, logs, fields, map[string]string{"FlowLogId": "flow-log-id"}, 1000)
	if err != nil {
		return err
	}
	out := ec2FlowLogsResponse{XMLName: ec2Root(req), RequestID: requestID, NextToken: next}
	for _, v := range page {
		out.FlowLogs = append(out.FlowLogs, ec2FlowLog{ID: ec2FlowLogID(v.ID), Status: "ACTIVE", ResourceID: v.ID,
			Traffic: "ALL", DestType: "cloud-watch-logs", LogGroup: "/vpc/flow-logs/" + v.ID, Delivery: "SUCCESS",
			Created: "2024-03-01T09:00:00.000Z"})
	}
	writeXML(w, out)
	return nil
}

func ec2FlowLogID(vpcID string) string { return "fl-" + strings.TrimPrefix(vpcID, "vpc-") }

// ec2Select applies a Describe call's filters and ID lists to items and
// returns the page its NextToken and MaxResults (at most max) ask for.
// fields are the filter names the call supports; ids maps an ID list
// parameter (VolumeId.N) to the filter it is equivalent to.
func ec2Select[T any](form url.Values, items []T, fields map[string]func(*T) string, ids map[string]string, max int) ([]*T, string, *APIError) {
	filters, err := ec2Filters(form, ids)
	if err != nil {
		return nil, "", err
	}
	for name := range filters {
		if fields[name] == nil {
			return nil, "", &APIError{Status: 400, Code: "InvalidParameterValue", Message: fmt.Sprintf("The filter '%s' is invalid", name)}
		}
	}
	size := ec2DefaultPage
	if v := form.Get("MaxResults"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 5 || n > max {
			return nil, "", &APIError{Status: 400, Code: "InvalidParameterValue",
				Message: fmt.Sprintf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and %d.", v, max)}
		}
		size = n
	}
	start := 0
	if tok := form.Get("NextToken"); tok != "" {
		n, convErr := strconv.Atoi(strings.TrimPrefix(tok, "simpage-"))
		if convErr != nil || !strings.HasPrefix(tok, "simpage-") || n < 0 {
			return nil, "", &APIError{Status: 400, Code: "InvalidParameterValue", Message: "Invalid value for NextToken"}
		}
		start = n
	}
	var page []*T
	matched := 0
	for i := range items {
		if !ec2Matches(&items[i], fields, filters) {
			continue
		}
		matched++
		if matched <= start {
			continue
		}
		if len(page) == size {
			// One more match exists past this page.
			return page, "simpage-" + strconv.Itoa(start+size), nil
		}
		page = append(page, &items[i])
	}
	return page, "", nil
}

// ec2Matches reports whether item passes every filter: values of one
// filter are alternatives, separate filters must all hold.
func ec2Matches[T any](item *T, fields map[string]func(*T) string, filters map[string][]string) bool {
	for name, values := range filters {
		got := fields[name](item)
		ok := false
		for _, v := range values {
			if v == got {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ec2Filters reads Filter.N.Name / Filter.N.Value.M pairs, and ID list
// parameters (Prefix.N) as the filters ids names.
func ec2Filters(form url.Values, ids map[string]string) (map[string][]string, *APIError) {
	filters := map[string][]string{}
	for n := 1; ; n++ {
		name := form.Get(fmt.Sprintf("Filter.%d.Name", n))
		if name == "" {
			break
		}
		vals := ec2List(form, fmt.Sprintf("Filter.%d.Value", n))
		if len(vals) == 0 {
			return nil, &APIError{Status: 400, Code: "InvalidParameterValue", Message: fmt.Sprintf("The filter '%s' has no values", name)}
		}
		filters[name] = append(filters[name], vals...)
	}
	for param, name := range ids {
		if vals := ec2List(form, param); len(vals) > 0 {
			filters[name] = append(filters[name], vals...)
		}
	}
	return filters, nil
}

// ec2List reads the flattened list prefix.1, prefix.2, ...
func ec2List(form url.Values, prefix string) []string {
	var out []string
	for m := 1; ; m++ {
		v, ok := form[fmt.Sprintf("%s.%d", prefix, m)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

// ec2Root names the root element of every EC2 response: the action's name
// and Response, in the EC2 namespace. Each response also carries the
// request ID.
func ec2Root(req *request) xml.Name {
	return xml.Name{Space: ec2Namespace, Local: req.Action + "Response"}
}

type ec2RegionsResponse struct {
	XMLName   xml.Name
	RequestID string          `xml:"requestId"`
	Regions   []ec2RegionItem `xml:"regionInfo>item"`
}

type ec2RegionItem struct {
	Name     string `xml:"regionName"`
	Endpoint string `xml:"regionEndpoint"`
	OptIn    string `xml:"optInStatus"`
}

type ec2EBSDefaultResponse struct {
	XMLName   xml.Name
	RequestID string `xml:"requestId"`
	Enabled   bool   `xml:"ebsEncryptionByDefault"`
	SSEType   string `xml:"sseType"`
}

type ec2VolumesResponse struct {
	XMLName   xml.Name
	RequestID string      `xml:"requestId"`
	Volumes   []ec2Volume `xml:"volumeSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

type ec2Volume struct {
	ID        string `xml:"volumeId"`
	Size      int    `xml:"size"`
	Zone      string `xml:"availabilityZone"`
	Status    string `xml:"status"`
	Created   string `xml:"createTime"`
	Type      string `xml:"volumeType"`
	Encrypted bool   `xml:"encrypted"`
	KMSKeyID  string `xml:"kmsKeyId,omitempty"`
}

type ec2SecurityGroupsResponse struct {
	XMLName   xml.Name
	RequestID string             `xml:"requestId"`
	Groups    []ec2SecurityGroup `xml:"securityGroupInfo>item"`
	NextToken string             `xml:"nextToken,omitempty"`
}

type ec2SecurityGroup struct {
	Owner       string          `xml:"ownerId"`
	ID          string          `xml:"groupId"`
	Name        string          `xml:"groupName"`
	Description string          `xml:"groupDescription"`
	VPCID       string          `xml:"vpcId,omitempty"`
	Ingress     []ec2Permission `xml:"ipPermissions>item"`
	Egress      []ec2Permission `xml:"ipPermissionsEgress>item"`
}

type ec2Permission struct {
	Protocol string       `xml:"ipProtocol"`
	FromPort *int         `xml:"fromPort,omitempty"`
	ToPort   *int         `xml:"toPort,omitempty"`
	IPv4     []ec2Range   `xml:"ipRanges>item"`
	IPv6     []ec2RangeV6 `xml:"ipv6Ranges>item"`
}

type ec2Range struct {
	CIDR string `xml:"cidrIp"`
}

type ec2RangeV6 struct {
	CIDR string `xml:"cidrIpv6"`
}

type ec2VPCsResponse struct {
	XMLName   xml.Name
	RequestID string   `xml:"requestId"`
	VPCs      []ec2VPC `xml:"vpcSet>item"`
	NextToken string   `xml:"nextToken,omitempty"`
}

type ec2VPC struct {
	ID          string `xml:"vpcId"`
	Owner       string `xml:"ownerId"`
	State       string `xml:"state"`
	CIDR        string `xml:"cidrBlock"`
	DHCPOptions string `xml:"dhcpOptionsId"`
	Tenancy     string `xml:"instanceTenancy"`
	IsDefault   bool   `xml:"isDefault"`
}

type ec2FlowLogsResponse struct {
	XMLName   xml.Name
	RequestID string       `xml:"requestId"`
	FlowLogs  []ec2FlowLog `xml:"flowLogSet>item"`
	NextToken string       `xml:"nextToken,omitempty"`
}

type ec2FlowLog struct {
	ID         string `xml:"flowLogId"`
	Status     string `xml:"flowLogStatus"`
	ResourceID string `xml:"resourceId"`
	Traffic    string `xml:"trafficType"`
	DestType   string `xml:"logDestinationType"`
	LogGroup   string `xml:"logGroupName"`
	Delivery   string `xml:"deliverLogsStatus"`
	Created    string `xml:"creationTime"`
}
