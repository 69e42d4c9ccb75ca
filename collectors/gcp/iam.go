package gcp

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	iamadmin "google.golang.org/api/iam/v1"
)

// Service account check IDs.
const (
	checkSAUserManagedKeys = "gcp.iam.sa_user_managed_keys"
	checkSAKeyAge          = "gcp.iam.sa_key_age"
)

// maxKeyAge is the oldest a usable user-managed key may be, the same limit
// as the AWS access key check.
const maxKeyAge = 90 * 24 * time.Hour

// serviceAccountPageSize is how many service accounts one listing page
// asks for, the most IAM allows.
const serviceAccountPageSize = 100

// keyTypeUserManaged is the key type of keys created or uploaded by users;
// Google rotates its system-managed keys itself.
const keyTypeUserManaged = "USER_MANAGED"

// serviceAccountScanner checks the service accounts of the project: no
// user-managed keys, and none older than 90 days where there are.
func serviceAccountScanner() scanner {
	return scanner{
		service: "iam",
		area:    "service_accounts",
		checks:  []string{checkSAUserManagedKeys, checkSAKeyAge},
		scan:    scanServiceAccounts,
	}
}

// keyTally counts, across service accounts, the usable keys seen and the
// accounts whose keys could not be listed.
type keyTally struct {
	keys, gaps atomic.Int64
}

func scanServiceAccounts(ctx context.Context, s *scope) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resourceWorkers)
	accounts := 0
	var tally keyTally
	now := s.c.now()
	listErr := s.c.api.iam.Projects.ServiceAccounts.List("projects/"+s.project).PageSize(serviceAccountPageSize).Pages(gctx,
		func(page *iamadmin.ListServiceAccountsResponse) error {
			for _, sa := range page.Accounts {
				accounts++
				g.Go(func() error { return checkServiceAccount(gctx, s, sa, now, &tally) })
			}
			return nil
		})
	// Wait before anything else: the goroutines fail only when the sink
	// does, and that error wins over the listing's.
	if err := g.Wait(); err != nil {
		return err
	}
	if listErr != nil {
		return fmt.Errorf("list service accounts of project %s: %w", s.project, listErr)
	}
	if accounts == 0 {
		return s.noneFound(ctx, "the project has no service accounts", checkSAUserManagedKeys, checkSAKeyAge)
	}
	if tally.keys.Load() == 0 && tally.gaps.Load() == 0 {
		return s.noneFound(ctx, "no service account of the project has a usable user-managed key", checkSAKeyAge)
	}
	return nil
}

// checkServiceAccount decides sa_user_managed_keys for one account and
// sa_key_age for each of its keys. Disabled keys cannot sign in, so they
// count for neither.
func checkServiceAccount(ctx context.Context, s *scope, sa *iamadmin.ServiceAccount, now time.Time, tally *keyTally) error {
	res := "//iam.googleapis.com/" + sa.Name
	out, err := s.c.api.iam.Projects.ServiceAccounts.Keys.List(sa.Name).KeyTypes(keyTypeUserManaged).Context(ctx).Do()
	if err != nil {
		tally.gaps.Add(1)
		err = fmt.Errorf("list keys of service account %s: %w", sa.Email, err)
		if err := s.notAssessed(ctx, checkSAUserManagedKeys, res, "", err); err != nil {
			return err
		}
		return s.notAssessed(ctx, checkSAKeyAge, res, "", err)
	}
	usable := []any{}
	for _, k := range out.Keys {
		// The filter is the server's; a key of another type is not ours to
		// judge whatever the server sent.
		if k.KeyType != keyTypeUserManaged {
			continue
		}
		if !k.Disabled {
			usable = append(usable, lastSegment(k.Name))
		}
		if err := checkKeyAge(ctx, s, k, now, tally); err != nil {
			return err
		}
	}
	detail := "the service account has no usable user-managed key: it authenticates with Google-managed credentials"
	if len(usable) > 0 {
		detail = fmt.Sprintf("the service account has %d usable user-managed keys, long-lived credentials that can leave Google Cloud", len(usable))
	}
	return s.verdict(ctx, checkSAUserManagedKeys, res, "", len(usable) == 0, detail,
		map[string]any{"email": sa.Email, "user_managed_keys": usable, "disabled": sa.Disabled})
}

// checkKeyAge decides sa_key_age for one user-managed key.
func checkKeyAge(ctx context.Context, s *scope, k *iamadmin.ServiceAccountKey, now time.Time, tally *keyTally) error {
	res := "//iam.googleapis.com/" + k.Name
	if k.Disabled {
		return s.notApplicable(ctx, checkSAKeyAge, res, "", "the key is disabled, so it cannot be used")
	}
	tally.keys.Add(1)
	created, err := time.Parse(time.RFC3339, k.ValidAfterTime)
	if err != nil {
		return s.notAssessed(ctx, checkSAKeyAge, res, "", fmt.Errorf("read creation time %q of key %s: %w", k.ValidAfterTime, k.Name, err))
	}
	age := now.Sub(created)
	days := int(age / (24 * time.Hour))
	ok := age <= maxKeyAge
	detail := fmt.Sprintf("the key is %d days old", days)
	if !ok {
		detail = fmt.Sprintf("the key is %d days old, older than 90 days", days)
	}
	return s.verdict(ctx, checkSAKeyAge, res, "", ok, detail,
		map[string]any{"valid_after_time": k.ValidAfterTime, "age_days": days, "key_origin": k.KeyOrigin})
}
