package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// Cloud Storage check IDs.
const (
	checkBucketUniformAccess = "gcp.storage.uniform_access"
	checkBucketPublicAccess  = "gcp.storage.public_access_prevention"
	checkBucketCMEK          = "gcp.storage.bucket_cmek"
	checkBucketVersioning    = "gcp.storage.versioning"
)

// bucketChecks are the checks every bucket gets.
func bucketChecks() []string {
	return []string{checkBucketUniformAccess, checkBucketPublicAccess, checkBucketCMEK, checkBucketVersioning}
}

// bucketPageSize is how many buckets one buckets.list page asks for, the
// most Cloud Storage allows for the full projection, which the storage
// client always asks for.
const bucketPageSize = 200

// bucketScanner checks every bucket of the project. The listing's full
// projection carries every setting the checks read, so a bucket costs no
// call of its own.
func bucketScanner() scanner {
	return scanner{
		service: "storage",
		area:    "buckets",
		checks:  bucketChecks(),
		locates: true,
		scan:    scanBuckets,
	}
}

func scanBuckets(ctx context.Context, s *scope) error {
	it := s.c.api.storage.Buckets(ctx, s.project)
	it.PageInfo().MaxSize = bucketPageSize
	n := 0
	for {
		b, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("list buckets of project %s: %w", s.project, err)
		}
		p := bucketPlace(b)
		if !s.c.inScope(p) {
			continue
		}
		n++
		if err := checkBucket(ctx, s, b, p); err != nil {
			return err
		}
	}
	if n == 0 {
		return s.noneFound(ctx, "the project has no Cloud Storage buckets in the collected locations", bucketChecks()...)
	}
	return nil
}

// bucketPlace is where a bucket keeps its objects. Cloud Storage spells
// locations in upper case; a configurable dual-region also lists its two
// regions.
func bucketPlace(b *storage.BucketAttrs) place {
	p := placeAt(b.Location)
	if b.CustomPlacementConfig != nil {
		for _, r := range b.CustomPlacementConfig.DataLocations {
			p.regions = append(p.regions, strings.ToLower(r))
		}
	}
	return p
}

// checkBucket decides every Cloud Storage check on one bucket.
func checkBucket(ctx context.Context, s *scope, b *storage.BucketAttrs, p place) error {
	res := "//storage.googleapis.com/projects/_/buckets/" + b.Name
	if err := s.located(ctx, res, p); err != nil {
		return err
	}

	ubla := b.UniformBucketLevelAccess.Enabled
	detail := "access is granted by IAM alone: object ACLs are switched off"
	if !ubla {
		detail = "fine-grained access: object ACLs can grant access that the bucket's IAM policy does not show"
	}
	if err := s.verdict(ctx, checkBucketUniformAccess, res, p.name, ubla, detail,
		map[string]any{"uniform_bucket_level_access": ubla}); err != nil {
		return err
	}

	pap := b.PublicAccessPrevention
	enforced := pap == storage.PublicAccessPreventionEnforced
	detail = "public access prevention is enforced on the bucket"
	if !enforced {
		// An organisation policy may still enforce it; the bucket does not
		// say, so only the bucket's own setting is evidence.
		detail = fmt.Sprintf("public access prevention is %s, not enforced on the bucket itself", pap)
	}
	if err := s.verdict(ctx, checkBucketPublicAccess, res, p.name, enforced, detail,
		map[string]any{"public_access_prevention": pap.String()}); err != nil {
		return err
	}

	key := ""
	if b.Encryption != nil {
		key = b.Encryption.DefaultKMSKeyName
	}
	detail = "new objects are encrypted with the customer-managed key " + key
	if key == "" {
		detail = "new objects are encrypted with Google-managed keys: no customer-managed default key"
	}
	if err := s.verdict(ctx, checkBucketCMEK, res, p.name, key != "", detail,
		map[string]any{"default_kms_key_name": key}); err != nil {
		return err
	}

	detail = "object versioning is enabled"
	if !b.VersioningEnabled {
		detail = "object versioning is off: overwritten or deleted objects are gone"
	}
	return s.verdict(ctx, checkBucketVersioning, res, p.name, b.VersioningEnabled, detail,
		map[string]any{"versioning_enabled": b.VersioningEnabled})
}
