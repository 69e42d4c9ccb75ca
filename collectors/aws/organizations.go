package aws

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// orgAPI names the AWS Organizations calls account discovery makes.
type orgAPI interface {
	organizations.ListAccountsAPIClient
	organizations.ListAccountsForParentAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
}

// orgPageSize is the most accounts or OUs one Organizations listing page
// holds.
const orgPageSize = 20

// discover lists the organization's accounts and returns the ones this
// agent assesses: those selected by include and exclude, owned by this
// replica's shard, and active. A suspended account is skipped with a log
// line and a coverage record, never silently. The error is the
// discovery's own (the caller reports the run not assessed with it), or
// the sink's.
func (c *Collector) discover(ctx context.Context, sink finding.Sink, api orgAPI) ([]Account, error) {
	o := c.cfg.Organization
	var all []orgtypes.Account
	p := organizations.NewListAccountsPaginator(api, &organizations.ListAccountsInput{}, func(po *organizations.ListAccountsPaginatorOptions) { po.Limit = orgPageSize })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, &discoveryError{fmt.Errorf("list the organization's accounts: %w", err)}
		}
		all = append(all, page.Accounts...)
	}

	include, err := c.orgMembers(ctx, api, o.Include)
	if err != nil {
		return nil, err
	}
	exclude, err := c.orgMembers(ctx, api, o.Exclude)
	if err != nil {
		return nil, err
	}
	var out []Account
	skipped := 0
	for _, a := range all {
		id := aws.ToString(a.Id)
		if (len(o.Include) > 0 && !include[id]) || exclude[id] {
			continue
		}
		if !c.cfg.Shard.Owns(id) {
			skipped++
			continue
		}
		if a.Status != orgtypes.AccountStatusActive {
			detail := fmt.Sprintf("account is %s in the organization, so it is not assessed", a.Status)
			c.log.Warn("organization account skipped", "account", id, "status", a.Status)
			if err := sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: id, Region: GlobalRegion,
				Service: "organizations", Status: finding.NotCovered, Detail: detail}); err != nil {
				return nil, fmt.Errorf("keep coverage: %w", err)
			}
			continue
		}
		out = append(out, Account{
			ID:         id,
			RoleARN:    fmt.Sprintf("arn:%s:iam::%s:role/%s", partitionOf(aws.ToString(a.Arn)), id, o.RoleName),
			ExternalID: o.ExternalID,
		})
	}
	c.log.Info("organization accounts discovered", "accounts", len(all), "assessed", len(out), "other_shards", skipped, "shard", c.cfg.Shard.String())
	return out, nil
}

// orgMembers resolves include or exclude entries to the account IDs they
// name: account IDs as they are, OU and root IDs as every account beneath
// them, nested OUs included.
func (c *Collector) orgMembers(ctx context.Context, api orgAPI, ids []string) (map[string]bool, error) {
	members := map[string]bool{}
	for _, id := range ids {
		if accountIDRe.MatchString(id) {
			members[id] = true
			continue
		}
		if err := c.orgSubtree(ctx, api, id, members); err != nil {
			return nil, err
		}
	}
	return members, nil
}

// orgSubtree adds the accounts under parent (an OU or root) to members.
func (c *Collector) orgSubtree(ctx context.Context, api orgAPI, parent string, members map[string]bool) error {
	accts := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)},
		func(po *organizations.ListAccountsForParentPaginatorOptions) { po.Limit = orgPageSize })
	for accts.HasMorePages() {
		page, err := accts.NextPage(ctx)
		if err != nil {
			return &discoveryError{fmt.Errorf("list the accounts in %s: %w", parent, err)}
		}
		for _, a := range page.Accounts {
			members[aws.ToString(a.Id)] = true
		}
	}
	ous := organizations.NewListOrganizationalUnitsForParentPaginator(api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)},
		func(po *organizations.ListOrganizationalUnitsForParentPaginatorOptions) { po.Limit = orgPageSize })
	var children []string
	for ous.HasMorePages() {
		page, err := ous.NextPage(ctx)
		if err != nil {
			return &discoveryError{fmt.Errorf("list the OUs in %s: %w", parent, err)}
		}
		for _, ou := range page.OrganizationalUnits {
			children = append(children, aws.ToString(ou.Id))
		}
	}
	for _, ou := range children {
		if err := c.orgSubtree(ctx, api, ou, members); err != nil {
			return err
		}
	}
	return nil
}

// discoveryError is a failure to learn the organization's accounts, as
// opposed to a failure of the sink.
type discoveryError struct{ err error }

func (e *discoveryError) Error() string { return e.err.Error() }
func (e *discoveryError) Unwrap() error { return e.err }

// partitionOf reads the partition (aws, aws-cn, aws-us-gov) of an ARN, so
// that role ARNs are built in the organization's own partition.
func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && strings.HasPrefix(parts[1], "aws") {
		return parts[1]
	}
	return "aws"
}
