package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/eucs-agent/eucs-agent/exporters/directory"
)

// startMoto starts moto's AWS emulator on a free loopback port. Outside CI a
// machine without moto skips the test with a message; in CI (CI=true) moto
// is part of the machine image and its absence fails the test.
func startMoto(t *testing.T) string {
	t.Helper()
	if err := exec.Command("python3", "-c", "import moto.server").Run(); err != nil {
		msg := "moto is not installed for python3 (pip install 'moto[server]'); skipping the AWS integration test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " — but CI=true, where it must run")
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	logPath := filepath.Join(t.TempDir(), "moto.log")
	logf, _ := os.Create(logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("moto did not start on %s: %v\n%s", url, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// seedMoto creates, through moto's own API, an estate whose expected
// findings the test knows: one compliant and one non-compliant example of
// several checks.
func seedMoto(t *testing.T, url string) (rotatedKey, staticKey, openGroup string) {
	t.Helper()
	ctx := context.Background()
	cfg := awssdk.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: awssdk.String(url),
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed moto: %s: %v", what, err)
		}
	}

	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range []string{"eucs-good", "eucs-bad"} {
		_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: awssdk.String(b)})
		must("create bucket "+b, err)
	}
	_, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: awssdk.String("eucs-good"),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	must("enable versioning", err)
	_, err = s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: awssdk.String("eucs-good"),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: awssdk.Bool(true), IgnorePublicAcls: awssdk.Bool(true),
			BlockPublicPolicy: awssdk.Bool(true), RestrictPublicBuckets: awssdk.Bool(true)}})
	must("public access block", err)
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"s3:*",` +
		`"Resource":["arn:aws:s3:::eucs-good","arn:aws:s3:::eucs-good/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	_, err = s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: awssdk.String("eucs-good"), Policy: awssdk.String(policy)})
	must("bucket policy", err)

	ec2c := ec2.NewFromConfig(cfg)
	_, err = ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: awssdk.String("us-east-1a"), Size: awssdk.Int32(8), Encrypted: awssdk.Bool(true)})
	must("encrypted volume", err)
	_, err = ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: awssdk.String("us-east-1a"), Size: awssdk.Int32(8)})
	must("plain volume", err)
	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String("ssh-world"), Description: awssdk.String("open ssh")})
	must("security group", err)
	_, err = ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(22), ToPort: awssdk.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}}}}})
	must("open ssh", err)

	iamc := iam.NewFromConfig(cfg)
	_, err = iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: awssdk.String("alice")})
	must("user", err)
	_, err = iamc.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: awssdk.String("alice"), Password: awssdk.String("Correct-Horse-9")})
	must("console password", err)

	kmsc := kms.NewFromConfig(cfg)
	rotated, err := kmsc.CreateKey(ctx, &kms.CreateKeyInput{Description: awssdk.String("rotated")})
	must("kms key", err)
	_, err = kmsc.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: rotated.KeyMetadata.KeyId})
	must("key rotation", err)
	static, err := kmsc.CreateKey(ctx, &kms.CreateKeyInput{Description: awssdk.String("static")})
	must("kms key", err)
	return *rotated.KeyMetadata.KeyId, *static.KeyMetadata.KeyId, *sg.GroupId
}

type motoFinding struct {
	Check, Resource, Status, Reason, Region, Account, Detail string
}

func TestCollectAgainstMoto(t *testing.T) {
	url := startMoto(t)
	rotatedKey, staticKey, openGroup := seedMoto(t, url)

	dir := t.TempDir()
	if code, _, stderr := runCmd(t, "keygen", "--out", dir); code != exitOK {
		t.Fatal(stderr)
	}
	evidence := filepath.Join(dir, "evidence")
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf(`service: Moto Integration
level: high
state_dir: %s
signing:
  key: file://%s
collectors:
  aws:
    regions: [us-east-1]
    allowed_regions: [eu-west-1]
    endpoint_url: %s
    s3_path_style: true
    max_attempts: 2
exporters:
  directory:
    path: %s
log:
  level: warn
`, filepath.Join(dir, "state"), filepath.Join(dir, "key.pem"), url, evidence)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Ambient credentials, as a real deployment has them, and nothing from
	// this machine's own AWS configuration.
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "moto-secret-value")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	if code, stdout, stderr := runCmd(t, "validate", "--config", cfgPath); code != exitOK {
		t.Fatalf("validate: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr := runCmd(t, "collect", "--config", cfgPath)
	if code != exitOK {
		t.Fatalf("collect: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "moto-secret-value") {
		t.Error("the secret access key reached the output")
	}
	b1 := filepath.Join(evidence, directory.FileName(1))
	payload := decodePayload(t, b1)
	if strings.Contains(string(payload), "moto-secret-value") {
		t.Error("the secret access key reached the bundle")
	}
	var st struct {
		Subject []struct {
			Name string
		}
		Predicate struct {
			Findings []motoFinding
		}
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Subject) != 1 || st.Subject[0].Name != "aws:123456789012" {
		t.Errorf("subjects %+v, want moto's default account", st.Subject)
	}
	find := func(check, resourcePart string) []motoFinding {
		var out []motoFinding
		for _, f := range st.Predicate.Findings {
			if f.Check == check && strings.Contains(f.Resource, resourcePart) {
				out = append(out, f)
			}
		}
		return out
	}
	expect := []struct {
		check, resource, status string
	}{
		{"aws.s3.versioning", "eucs-good", "pass"},
		{"aws.s3.versioning", "eucs-bad", "fail"},
		{"aws.s3.public_access_block", "eucs-good", "pass"},
		{"aws.s3.public_access_block", "eucs-bad", "fail"},
		{"aws.s3.tls_only_policy", "eucs-good", "pass"},
		{"aws.s3.tls_only_policy", "eucs-bad", "fail"},
		{"aws.ec2.ebs_default_encryption", "ebs-default-encryption", "fail"},
		{"aws.ec2.sg_admin_ports_open", openGroup, "fail"},
		{"aws.ec2.sg_all_ports_open", openGroup, "pass"},
		{"aws.iam.user_mfa", "user/alice", "fail"},
		{"aws.iam.root_mfa", "root", "fail"},
		{"aws.iam.password_policy", "", "fail"},
		{"aws.guardduty.enabled", "", "fail"},
		{"aws.location.allowed_region", "eucs-good", "fail"},
		{"aws.kms.key_rotation", rotatedKey, "pass"},
		{"aws.kms.key_rotation", staticKey, "fail"},
	}
	for _, e := range expect {
		fs := find(e.check, e.resource)
		if len(fs) == 0 {
			t.Errorf("no %s finding on %q", e.check, e.resource)
			continue
		}
		for _, f := range fs {
			if f.Status != e.status {
				t.Errorf("%s on %s: %s (%s %s), want %s", e.check, f.Resource, f.Status, f.Reason, f.Detail, e.status)
			}
		}
	}
	// Two volumes, one encrypted. (Keys are asserted by ID above: moto
	// adds a key of its own for the encrypted volume.)
	for _, c := range []struct {
		check      string
		pass, fail int
	}{
		{"aws.ec2.ebs_volume_encrypted", 1, 1},
	} {
		pass, fail := 0, 0
		for _, f := range find(c.check, "") {
			switch f.Status {
			case "pass":
				pass++
			case "fail":
				fail++
			}
		}
		if pass != c.pass || fail != c.fail {
			t.Errorf("%s: %d pass / %d fail, want %d / %d", c.check, pass, fail, c.pass, c.fail)
		}
	}
	// Whatever moto does not implement must show up as not_assessed with a
	// reason, never as a pass or a fail.
	for _, f := range st.Predicate.Findings {
		if f.Status == "not_assessed" && f.Reason == "" {
			t.Errorf("not_assessed without a reason: %+v", f)
		}
	}

	pub := filepath.Join(dir, "key.pub")
	if code, stdout, stderr := runCmd(t, "verify", "--key", pub, b1); code != exitOK {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
}
