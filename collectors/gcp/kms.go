package gcp

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/api/cloudkms/v1"
)

const checkKeyRotation = "gcp.kms.key_rotation"

// maxRotationPeriod is the longest automatic rotation period the check
// accepts, after the CIS Google Cloud Foundations Benchmark.
const maxRotationPeriod = 90 * 24 * time.Hour

// kmsPageSize is how many key rings or keys one Cloud KMS listing page
// asks for, the most the API allows.
const kmsPageSize = 1000

// resourceWorkers bounds the locations or resources one scope works on at
// once: enough to keep a scope inside its timeout when it makes a call per
// location or per resource, few enough to stay clear of per-project rate
// limits from a single scope.
const resourceWorkers = 4

// kmsScanner checks that every symmetric Cloud KMS key rotates
// automatically, at least every 90 days.
func kmsScanner() scanner {
	return scanner{
		service: "cloudkms",
		area:    "crypto_keys",
		checks:  []string{checkKeyRotation},
		locates: true,
		scan:    scanKMS,
	}
}

// kmsTally counts, across locations, the keys seen and the listings that
// failed, to tell "no keys at all" from "could not look everywhere".
type kmsTally struct {
	keys, gaps atomic.Int64
}

// scanKMS walks locations, key rings and keys. Cloud KMS has no listing
// across locations, so with every location collected it first lists them.
func scanKMS(ctx context.Context, s *scope) error {
	locations := s.c.cfg.Regions
	if len(locations) == 1 && locations[0] == allLocations {
		locations = nil
		err := s.c.api.kms.Projects.Locations.List("projects/"+s.project).Pages(ctx, func(page *cloudkms.ListLocationsResponse) error {
			for _, l := range page.Locations {
				locations = append(locations, l.LocationId)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list Cloud KMS locations of project %s: %w", s.project, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resourceWorkers)
	var tally kmsTally
	for _, l := range locations {
		g.Go(func() error { return kmsLocation(gctx, s, strings.ToLower(l), &tally) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if tally.keys.Load() == 0 && tally.gaps.Load() == 0 {
		return s.noneFound(ctx, "the project has no Cloud KMS keys in the collected locations", checkKeyRotation)
	}
	return nil
}

// kmsLocation decides every key in one location. A listing that fails
// leaves its location or key ring not assessed and the others are still
// looked at; it returns an error only when the sink fails.
func kmsLocation(ctx context.Context, s *scope, location string, tally *kmsTally) error {
	parent := "projects/" + s.project + "/locations/" + location
	var rings []string
	err := s.c.api.kms.Projects.Locations.KeyRings.List(parent).PageSize(kmsPageSize).Pages(ctx, func(page *cloudkms.ListKeyRingsResponse) error {
		for _, r := range page.KeyRings {
			rings = append(rings, r.Name)
		}
		return nil
	})
	if err != nil {
		tally.gaps.Add(1)
		return s.notAssessed(ctx, checkKeyRotation, "//cloudkms.googleapis.com/"+parent, location,
			fmt.Errorf("list key rings in %s: %w", parent, err))
	}
	p := placeAt(location)
	for _, ring := range rings {
		var keys []*cloudkms.CryptoKey
		err := s.c.api.kms.Projects.Locations.KeyRings.CryptoKeys.List(ring).PageSize(kmsPageSize).Pages(ctx, func(page *cloudkms.ListCryptoKeysResponse) error {
			keys = append(keys, page.CryptoKeys...)
			return nil
		})
		if err != nil {
			tally.gaps.Add(1)
			if err := s.notAssessed(ctx, checkKeyRotation, "//cloudkms.googleapis.com/"+ring, location,
				fmt.Errorf("list keys of %s: %w", ring, err)); err != nil {
				return err
			}
			continue
		}
		for _, k := range keys {
			tally.keys.Add(1)
			if err := checkKey(ctx, s, p, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKey decides key_rotation for one key. Cloud KMS rotates only
// symmetric encryption keys whose material it generates and holds, so
// other keys are not applicable, with the reason in the detail.
func checkKey(ctx context.Context, s *scope, p place, k *cloudkms.CryptoKey) error {
	res := "//cloudkms.googleapis.com/" + k.Name
	if err := s.located(ctx, res, p); err != nil {
		return err
	}
	level := ""
	if k.VersionTemplate != nil {
		level = k.VersionTemplate.ProtectionLevel
	}
	primary := ""
	if k.Primary != nil {
		primary = k.Primary.State
		if level == "" {
			level = k.Primary.ProtectionLevel
		}
	}
	observed := map[string]any{"purpose": k.Purpose, "protection_level": level, "primary_state": primary}
	var skip string
	switch {
	case k.Purpose != "ENCRYPT_DECRYPT":
		skip = fmt.Sprintf("%s key: Cloud KMS rotates only symmetric encryption keys automatically", k.Purpose)
	case strings.HasPrefix(level, "EXTERNAL"):
		skip = fmt.Sprintf("%s key: its material lives in the external key manager, which rotates it", level)
	case k.ImportOnly:
		skip = "import-only key: Cloud KMS cannot generate new versions of imported material"
	case primary != "ENABLED":
		skip = "key has no enabled primary version, so it protects no new data"
	}
	if skip != "" {
		return s.notApplicableObserved(ctx, checkKeyRotation, res, p.name, skip, observed)
	}
	if k.RotationPeriod == "" {
		return s.verdict(ctx, checkKeyRotation, res, p.name, false, "key never rotates automatically: no rotation period", observed)
	}
	period, err := time.ParseDuration(k.RotationPeriod)
	if err != nil {
		return s.notAssessed(ctx, checkKeyRotation, res, p.name, fmt.Errorf("read rotation period %q of %s: %w", k.RotationPeriod, k.Name, err))
	}
	days := int(period / (24 * time.Hour))
	observed["rotation_period_days"] = days
	if k.NextRotationTime != "" {
		observed["next_rotation_time"] = k.NextRotationTime
	}
	ok := period <= maxRotationPeriod
	detail := fmt.Sprintf("key rotates automatically every %d days", days)
	if !ok {
		detail = fmt.Sprintf("key rotates automatically only every %d days, more than 90", days)
	}
	return s.verdict(ctx, checkKeyRotation, res, p.name, ok, detail, observed)
}
