package awssim_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// orgEstate has a management account and n members: the members with an
// even index sit in ou-sim0-00000001, every third of those in the nested
// ou-sim0-00000002, and member 1 is suspended.
func orgEstate(n int) *awssim.Estate {
	e := &awssim.Estate{
		Accounts: []*awssim.Account{{ID: "100000000000"}},
		OrgUnits: []awssim.OrgUnit{
			{ID: "ou-sim0-00000001", Name: "workloads"},
			{ID: "ou-sim0-00000002", Name: "prod", Parent: "ou-sim0-00000001"},
		},
	}
	for i := range n {
		a := &awssim.Account{ID: fmt.Sprintf("%012d", 200000000000+i)}
		switch {
		case i%6 == 0:
			a.Parent = "ou-sim0-00000002"
		case i%2 == 0:
			a.Parent = "ou-sim0-00000001"
		}
		if i == 1 {
			a.Status = "SUSPENDED"
		}
		e.Accounts = append(e.Accounts, a)
	}
	return e
}

func TestOrganizationsListsAccountsInPages(t *testing.T) {
	e := orgEstate(44)
	sim := awssim.NewServer(e)
	ts := sim.Start()
	t.Cleanup(ts.Close)
	cfg := serveConfig(ts.URL, e.Accounts[0].ID)
	c := organizations.NewFromConfig(cfg)
	ctx := context.Background()

	var ids []string
	status := map[string]string{}
	p := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			ids = append(ids, aws.ToString(a.Id))
			status[aws.ToString(a.Id)] = string(a.Status)
		}
	}
	if len(ids) != 45 || sim.Calls("organizations", "ListAccounts") != 3 {
		t.Errorf("%d accounts in %d pages, want 45 in 3 pages of at most 20", len(ids), sim.Calls("organizations", "ListAccounts"))
	}
	if status["200000000001"] != "SUSPENDED" || status["200000000002"] != "ACTIVE" {
		t.Errorf("statuses %v", status)
	}

	children := func(parent string) (accts, ous []string) {
		ap := organizations.NewListAccountsForParentPaginator(c, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
		for ap.HasMorePages() {
			page, err := ap.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page.Accounts {
				accts = append(accts, aws.ToString(a.Id))
			}
		}
		op := organizations.NewListOrganizationalUnitsForParentPaginator(c, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
		for op.HasMorePages() {
			page, err := op.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ou := range page.OrganizationalUnits {
				ous = append(ous, aws.ToString(ou.Id))
			}
		}
		return accts, ous
	}
	rootAccts, rootOUs := children(awssim.OrgRootID)
	wlAccts, wlOUs := children("ou-sim0-00000001")
	prodAccts, _ := children("ou-sim0-00000002")
	if len(rootAccts)+len(wlAccts)+len(prodAccts) != 45 || !slices.Equal(rootOUs, []string{"ou-sim0-00000001"}) || !slices.Equal(wlOUs, []string{"ou-sim0-00000002"}) {
		t.Errorf("root %d accounts %v, workloads %d accounts %v, prod %d accounts", len(rootAccts), rootOUs, len(wlAccts), wlOUs, len(prodAccts))
	}
	if !slices.Contains(prodAccts, "200000000006") || slices.Contains(wlAccts, "200000000006") {
		t.Errorf("200000000006 should sit in prod only: workloads %v, prod %v", wlAccts, prodAccts)
	}

	_, err := c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-sim0-99999999")})
	if code := errorCode(err); code != "ParentNotFoundException" {
		t.Errorf("unknown parent: %v, want ParentNotFoundException", err)
	}
}

func TestOrganizationsIsForTheManagementAccountOnly(t *testing.T) {
	e := orgEstate(2)
	cfg := serve(t, e, e.Accounts[1].ID)
	_, err := organizations.NewFromConfig(cfg).ListAccounts(context.Background(), &organizations.ListAccountsInput{})
	if code := errorCode(err); code != "AccessDeniedException" {
		t.Errorf("a member account listing the organization: %v, want AccessDeniedException", err)
	}
}
