package awssim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

// serve starts a simulator for e and returns SDK settings that reach it as
// account's base credentials, with no retries so faults show as they are.
func serve(t *testing.T, e *awssim.Estate, account string) aws.Config {
	t.Helper()
	ts := awssim.NewServer(e).Start()
	t.Cleanup(ts.Close)
	return serveConfig(ts.URL, account)
}

// serveConfig is the SDK settings that reach a simulator at url as
// account's base credentials, with no retries.
func serveConfig(url, account string) aws.Config {
	return aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(awssim.AccessKeyFor(account), "sim-secret", ""),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// errorCode is the AWS error code of err, "" when it carries none.
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func stsEstate() *awssim.Estate {
	return &awssim.Estate{Accounts: []*awssim.Account{
		{ID: "111111111111"},
		{ID: "222222222222", ExternalID: "ext-222"},
		{ID: "333333333333"},
	}}
}

func TestAssumeRole(t *testing.T) {
	for _, tc := range []struct {
		name       string
		role       string
		externalID string
		wantCode   string
	}{
		{name: "role with the right external ID is granted", role: "arn:aws:iam::222222222222:role/audit", externalID: "ext-222"},
		{name: "role in an account without external ID is granted", role: "arn:aws:iam::333333333333:role/audit"},
		{name: "role under a path is granted", role: "arn:aws:iam::333333333333:role/security/audit"},
		{name: "wrong external ID is denied", role: "arn:aws:iam::222222222222:role/audit", externalID: "guess", wantCode: "AccessDenied"},
		{name: "missing external ID is denied", role: "arn:aws:iam::222222222222:role/audit", wantCode: "AccessDenied"},
		{name: "unknown account is denied", role: "arn:aws:iam::999999999999:role/audit", wantCode: "AccessDenied"},
		{name: "a user ARN is rejected", role: "arn:aws:iam::333333333333:user/audit", wantCode: "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := sts.NewFromConfig(serve(t, stsEstate(), "111111111111"))
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tc.role), RoleSessionName: aws.String("eucs")}
			if tc.externalID != "" {
				in.ExternalId = aws.String(tc.externalID)
			}
			out, err := client.AssumeRole(context.Background(), in)
			if tc.wantCode != "" {
				if code := errorCode(err); code != tc.wantCode {
					t.Fatalf("got error %v (code %q), want code %q", err, code, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			account := tc.role[13:25]
			c := out.Credentials
			if got := aws.ToString(c.AccessKeyId); got != awssim.AccessKeyFor(account) {
				t.Errorf("access key %q, want the one of account %s", got, account)
			}
			if aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" {
				t.Error("credentials lack a secret or session token")
			}
			if c.Expiration == nil || !c.Expiration.After(time.Now()) {
				t.Errorf("expiration %v is not in the future", c.Expiration)
			}
			if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::"+account+":assumed-role/audit/eucs"; got != want {
				t.Errorf("assumed role ARN %q, want %q", got, want)
			}
		})
	}
}

func TestGetCallerIdentity(t *testing.T) {
	cfg := serve(t, stsEstate(), "111111111111")
	base, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(base.Account) != "111111111111" || aws.ToString(base.Arn) != "arn:aws:iam::111111111111:user/sim-agent" {
		t.Errorf("base identity %s in %s", aws.ToString(base.Arn), aws.ToString(base.Account))
	}

	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::333333333333:role/audit"), RoleSessionName: aws.String("eucs"),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	assumed := cfg.Copy()
	c := out.Credentials
	assumed.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	id, err := sts.NewFromConfig(assumed).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity as the role: %v", err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:sts::333333333333:assumed-role/audit/eucs"; got != want || aws.ToString(id.Account) != "333333333333" {
		t.Errorf("assumed identity %s in %s, want %s in 333333333333", got, aws.ToString(id.Account), want)
	}
}
