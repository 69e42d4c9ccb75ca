package awssim_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

func iamEstate() *awssim.Estate {
	a := &awssim.Account{ID: "111111111111", RootMFA: true}
	created := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		a.Users = append(a.Users, awssim.User{Name: fmt.Sprintf("user%d", i), Created: created, Console: i == 0, MFA: i == 0,
			AccessKeys: []awssim.AccessKey{{ID: fmt.Sprintf("AKIA%d", i), Created: created, Active: i%2 == 0}}})
	}
	return &awssim.Estate{Accounts: []*awssim.Account{a}}
}

func TestIAMListUsersPages(t *testing.T) {
	client := iam.NewFromConfig(serve(t, iamEstate(), "111111111111"))
	var names []string
	pages := 0
	p := iam.NewListUsersPaginator(client, &iam.ListUsersInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, u := range out.Users {
			names = append(names, aws.ToString(u.UserName))
			if got, want := aws.ToString(u.Arn), "arn:aws:iam::111111111111:user/"+aws.ToString(u.UserName); got != want {
				t.Errorf("ARN %q, want %q", got, want)
			}
		}
	}
	if want := []string{"user0", "user1", "user2", "user3", "user4"}; !slices.Equal(names, want) || pages != 3 {
		t.Errorf("got %v in %d pages, want %v in 3", names, pages, want)
	}
}

func TestIAMUserDetails(t *testing.T) {
	client := iam.NewFromConfig(serve(t, iamEstate(), "111111111111"))
	ctx := context.Background()

	if _, err := client.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("user0")}); err != nil {
		t.Errorf("login profile of a console user: %v", err)
	}
	var none *types.NoSuchEntityException
	if _, err := client.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("user1")}); !errors.As(err, &none) {
		t.Errorf("login profile of a user without console password: got %v, want NoSuchEntity", err)
	}
	if _, err := client.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("nobody")}); !errors.As(err, &none) {
		t.Errorf("MFA devices of an unknown user: got %v, want NoSuchEntity", err)
	}

	mfa, err := client.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("user0")})
	if err != nil || len(mfa.MFADevices) != 1 {
		t.Errorf("MFA devices of user0: %+v, %v; want one", mfa, err)
	}
	keys, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("user1")})
	if err != nil || len(keys.AccessKeyMetadata) != 1 {
		t.Fatalf("access keys of user1: %+v, %v; want one", keys, err)
	}
	k := keys.AccessKeyMetadata[0]
	if aws.ToString(k.AccessKeyId) != "AKIA1" || k.Status != types.StatusTypeInactive ||
		!aws.ToTime(k.CreateDate).Equal(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("access key %s %s created %v", aws.ToString(k.AccessKeyId), k.Status, aws.ToTime(k.CreateDate))
	}
}

func TestIAMAccountSettings(t *testing.T) {
	e := iamEstate()
	client := iam.NewFromConfig(serve(t, e, "111111111111"))
	ctx := context.Background()

	sum, err := client.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil || sum.SummaryMap["AccountMFAEnabled"] != 1 || sum.SummaryMap["Users"] != 5 {
		t.Errorf("account summary %v, %v", sum, err)
	}

	var none *types.NoSuchEntityException
	if _, err := client.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{}); !errors.As(err, &none) {
		t.Errorf("password policy of an account without one: got %v, want NoSuchEntity", err)
	}
	e.Accounts[0].PasswordPolicy = &awssim.PasswordPolicy{MinimumLength: 16, RequireSymbols: true, ReusePrevention: 24}
	out, err := client.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	if err != nil {
		t.Fatalf("GetAccountPasswordPolicy: %v", err)
	}
	p := out.PasswordPolicy
	if aws.ToInt32(p.MinimumPasswordLength) != 16 || !p.RequireSymbols || p.RequireNumbers ||
		aws.ToInt32(p.PasswordReusePrevention) != 24 || p.MaxPasswordAge != nil {
		t.Errorf("password policy %+v", p)
	}
}
