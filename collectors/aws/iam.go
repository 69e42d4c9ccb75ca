package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"golang.org/x/sync/errgroup"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// IAM check IDs.
const (
	checkRootMFA        = "aws.iam.root_mfa"
	checkUserMFA        = "aws.iam.user_mfa"
	checkAccessKeyAge   = "aws.iam.access_key_age"
	checkPasswordPolicy = "aws.iam.password_policy"
)

// What the IAM checks ask for, after the CIS AWS Foundations Benchmark.
const (
	maxAccessKeyAge   = 90 * 24 * time.Hour
	minPasswordLength = 14
	minPasswordReuse  = 24
)

// iamPageSize is how many users or keys one IAM listing page asks for, the
// most IAM allows.
const iamPageSize = 1000

// resourceWorkers bounds the resources one scope checks at once. Per-user
// and per-key calls dominate large accounts, so running several side by
// side hides the round trips and keeps a scope inside its timeout; the
// rate limiter, not this bound, keeps the scope within the API's limits.
const resourceWorkers = 8

// iamAPI is the part of the IAM client the checks use.
type iamAPI interface {
	iam.ListUsersAPIClient
	iam.ListMFADevicesAPIClient
	iam.ListAccessKeysAPIClient
	GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, optFns ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error)
	GetAccountSummary(ctx context.Context, in *iam.GetAccountSummaryInput, optFns ...func(*iam.Options)) (*iam.GetAccountSummaryOutput, error)
	GetAccountPasswordPolicy(ctx context.Context, in *iam.GetAccountPasswordPolicyInput, optFns ...func(*iam.Options)) (*iam.GetAccountPasswordPolicyOutput, error)
}

// iamScanner checks IAM: root MFA, users without MFA, old access keys,
// password policy.
func iamScanner() scanner {
	return scanner{
		service: "iam",
		global:  true,
		checks:  []string{checkRootMFA, checkUserMFA, checkAccessKeyAge, checkPasswordPolicy},
		scan: func(ctx context.Context, s *scope) error {
			return scanIAM(ctx, s, iam.NewFromConfig(s.cfg), time.Now())
		},
	}
}

// scanIAM judges the users first: when they cannot be listed the whole
// scope is reported not assessed, and account-level verdicts emitted before
// that would sit next to a blanket not_assessed for the same checks.
func scanIAM(ctx context.Context, s *scope, api iamAPI, now time.Time) error {
	if err := iamUsers(ctx, s, api, now); err != nil {
		return err
	}
	if err := iamRootMFA(ctx, s, api); err != nil {
		return err
	}
	return iamPasswordPolicy(ctx, s, api)
}

// keyTally counts, across all users, the access keys seen and the users
// whose keys could not be listed, to tell "no keys at all" from "could not
// look".
type keyTally struct {
	keys, gaps atomic.Int64
}

func iamUsers(ctx context.Context, s *scope, api iamAPI, now time.Time) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resourceWorkers)
	var users int
	var tally keyTally
	var listErr error
	p := iam.NewListUsersPaginator(api, &iam.ListUsersInput{}, func(o *iam.ListUsersPaginatorOptions) { o.Limit = iamPageSize })
	for p.HasMorePages() {
		page, err := p.NextPage(gctx)
		if err != nil {
			listErr = fmt.Errorf("list IAM users: %w", err)
			break
		}
		for _, u := range page.Users {
			users++
			g.Go(func() error { return iamUser(gctx, s, api, u, now, &tally) })
		}
	}
	// Wait before anything else: the goroutines only fail when the sink
	// does, and that error wins over the listing's.
	if err := g.Wait(); err != nil {
		return err
	}
	if listErr != nil {
		return listErr
	}
	if users == 0 {
		if err := s.notApplicable(ctx, checkUserMFA, "*", "", "no IAM users in this account"); err != nil {
			return err
		}
		return s.notApplicable(ctx, checkAccessKeyAge, "*", "", "no IAM users in this account")
	}
	if tally.keys.Load() == 0 && tally.gaps.Load() == 0 {
		return s.notApplicable(ctx, checkAccessKeyAge, "*", "", "no IAM user has an access key")
	}
	return nil
}

// iamUser judges one user's MFA and access keys.
func iamUser(ctx context.Context, s *scope, api iamAPI, u types.User, now time.Time, tally *keyTally) error {
	if err := iamUserMFA(ctx, s, api, u); err != nil {
		return err
	}
	return iamAccessKeys(ctx, s, api, u, now, tally)
}

// iamUserMFA decides user_mfa: MFA matters for users who can sign in to the
// console, so users without a login profile are not applicable.
func iamUserMFA(ctx context.Context, s *scope, api iamAPI, u types.User) error {
	arn, name := aws.ToString(u.Arn), aws.ToString(u.UserName)
	_, err := api.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: u.UserName})
	var none *types.NoSuchEntityException
	switch {
	case errors.As(err, &none):
		return s.notApplicable(ctx, checkUserMFA, arn, "", "user has no console password, so there is no sign-in to protect with MFA")
	case err != nil:
		return s.notAssessed(ctx, checkUserMFA, arn, "", fmt.Errorf("get login profile of IAM user %s: %w", name, err))
	}
	serials := []any{}
	p := iam.NewListMFADevicesPaginator(api, &iam.ListMFADevicesInput{UserName: u.UserName})
	// One device is enough for the verdict, so stop paging once one shows.
	for p.HasMorePages() && len(serials) == 0 {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.notAssessed(ctx, checkUserMFA, arn, "", fmt.Errorf("list MFA devices of IAM user %s: %w", name, err))
		}
		for _, d := range page.MFADevices {
			serials = append(serials, aws.ToString(d.SerialNumber))
		}
	}
	detail := "user has a console password and an MFA device"
	if len(serials) == 0 {
		detail = "user can sign in to the console with a password alone: no MFA device"
	}
	return s.verdict(ctx, checkUserMFA, arn, "", len(serials) > 0, detail,
		map[string]any{"user_name": name, "login_profile": true, "mfa_devices": serials})
}

// iamAccessKeys decides access_key_age for each key of a user. Only active
// keys can be used, so only they are held to the age limit.
func iamAccessKeys(ctx context.Context, s *scope, api iamAPI, u types.User, now time.Time, tally *keyTally) error {
	arn, name := aws.ToString(u.Arn), aws.ToString(u.UserName)
	p := iam.NewListAccessKeysPaginator(api, &iam.ListAccessKeysInput{UserName: u.UserName}, func(o *iam.ListAccessKeysPaginatorOptions) { o.Limit = iamPageSize })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			tally.gaps.Add(1)
			return s.notAssessed(ctx, checkAccessKeyAge, arn, "", fmt.Errorf("list access keys of IAM user %s: %w", name, err))
		}
		for _, k := range page.AccessKeyMetadata {
			tally.keys.Add(1)
			if err := iamAccessKey(ctx, s, arn, k, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func iamAccessKey(ctx context.Context, s *scope, userARN string, k types.AccessKeyMetadata, now time.Time) error {
	id := aws.ToString(k.AccessKeyId)
	resource := userARN + "/accesskey/" + id
	observed := map[string]any{"access_key_id": id, "status": string(k.Status)}
	if k.Status != types.StatusTypeActive {
		return s.emit(ctx, finding.Finding{Check: checkAccessKeyAge, Resource: resource, Status: finding.NotApplicable,
			Detail: "access key is inactive and cannot be used", Observed: observed})
	}
	if k.CreateDate == nil {
		return s.notAssessed(ctx, checkAccessKeyAge, resource, "", errors.New("IAM reported no creation date for the access key"))
	}
	age := now.Sub(*k.CreateDate)
	days := int(age / (24 * time.Hour))
	observed["create_date"] = k.CreateDate.UTC().Format(time.RFC3339)
	observed["age_days"] = days
	ok := age <= maxAccessKeyAge
	detail := fmt.Sprintf("active access key is %d days old, within the %d-day limit", days, int(maxAccessKeyAge/(24*time.Hour)))
	if !ok {
		detail = fmt.Sprintf("active access key is %d days old, past the %d-day limit: rotate it", days, int(maxAccessKeyAge/(24*time.Hour)))
	}
	return s.verdict(ctx, checkAccessKeyAge, resource, "", ok, detail, observed)
}

// iamRootMFA decides root_mfa from the account summary.
func iamRootMFA(ctx context.Context, s *scope, api iamAPI) error {
	root := "arn:aws:iam::" + s.account + ":root"
	out, err := api.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		return s.notAssessed(ctx, checkRootMFA, root, "", fmt.Errorf("get IAM account summary: %w", err))
	}
	v, found := out.SummaryMap["AccountMFAEnabled"]
	if !found {
		return s.notAssessed(ctx, checkRootMFA, root, "", errors.New("IAM account summary has no AccountMFAEnabled entry"))
	}
	detail := "root user has MFA enabled"
	if v != 1 {
		detail = "root user can sign in without MFA"
	}
	return s.verdict(ctx, checkRootMFA, root, "", v == 1, detail, map[string]any{"account_mfa_enabled": int(v)})
}

// iamPasswordPolicy decides password_policy, a setting of the account as a
// whole.
func iamPasswordPolicy(ctx context.Context, s *scope, api iamAPI) error {
	subject := "arn:aws:iam::" + s.account + ":account-password-policy"
	out, err := api.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	if isCode(err, "NoSuchEntity") {
		return s.verdict(ctx, checkPasswordPolicy, subject, "", false,
			"account has no password policy, so IAM's weak default applies", map[string]any{"error_code": "NoSuchEntity"})
	}
	if err != nil {
		return s.notAssessed(ctx, checkPasswordPolicy, subject, "", fmt.Errorf("get IAM account password policy: %w", err))
	}
	if out.PasswordPolicy == nil {
		return s.notAssessed(ctx, checkPasswordPolicy, subject, "", errors.New("IAM returned an empty password policy"))
	}
	p := out.PasswordPolicy
	length, reuse := int(aws.ToInt32(p.MinimumPasswordLength)), int(aws.ToInt32(p.PasswordReusePrevention))
	var gaps []string
	if length < minPasswordLength {
		gaps = append(gaps, fmt.Sprintf("minimum length %d is under %d", length, minPasswordLength))
	}
	for _, req := range []struct {
		on   bool
		what string
	}{
		{p.RequireSymbols, "symbols"},
		{p.RequireNumbers, "numbers"},
		{p.RequireUppercaseCharacters, "upper case letters"},
		{p.RequireLowercaseCharacters, "lower case letters"},
	} {
		if !req.on {
			gaps = append(gaps, "does not require "+req.what)
		}
	}
	if reuse < minPasswordReuse {
		gaps = append(gaps, fmt.Sprintf("prevents reuse of %d previous passwords, not %d", reuse, minPasswordReuse))
	}
	detail := "password policy meets the length, complexity and reuse requirements"
	if len(gaps) > 0 {
		detail = "password policy is too weak: " + strings.Join(gaps, "; ")
	}
	return s.verdict(ctx, checkPasswordPolicy, subject, "", len(gaps) == 0, detail, map[string]any{
		"minimum_password_length":      length,
		"require_symbols":              p.RequireSymbols,
		"require_numbers":              p.RequireNumbers,
		"require_uppercase_characters": p.RequireUppercaseCharacters,
		"require_lowercase_characters": p.RequireLowercaseCharacters,
		"password_reuse_prevention":    reuse,
	})
}
