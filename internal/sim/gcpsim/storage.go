package gcpsim

import (
	"net/http"
	"strings"

	storagev1 "google.golang.org/api/storage/v1"
)

// listBuckets answers storage.buckets.list (GET /storage/v1/b?project=P),
// the full projection: every bucket setting the collector reads is in the
// listing. The answer is written with the JSON API's own generated types,
// whose field names are the wire's.
func (s *Server) listBuckets(w http.ResponseWriter, c *call) {
	buckets := c.Project.Buckets
	// A page holds at most 1000 buckets, or 200 with their ACLs (the full
	// projection).
	max := 1000
	if c.r.URL.Query().Get("projection") == "full" {
		max = 200
	}
	pg, ok := pageOf(w, c, len(buckets), "maxResults", max, max)
	if !ok {
		return
	}
	out := &storagev1.Buckets{Kind: "storage#buckets", NextPageToken: pg.next}
	for _, b := range buckets[pg.start:pg.end] {
		item := &storagev1.Bucket{
			Kind:           "storage#bucket",
			Id:             b.Name,
			Name:           b.Name,
			SelfLink:       "https://www.googleapis.com/storage/v1/b/" + b.Name,
			ProjectNumber:  uint64(c.Project.Number),
			Location:       b.Location,
			LocationType:   bucketLocationType(b),
			StorageClass:   "STANDARD",
			TimeCreated:    "2024-03-01T09:30:00.000Z",
			Updated:        "2025-06-01T12:00:00.000Z",
			Metageneration: 3,
			Etag:           "CAM=",
			IamConfiguration: &storagev1.BucketIamConfiguration{
				BucketPolicyOnly:         &storagev1.BucketIamConfigurationBucketPolicyOnly{Enabled: b.UniformAccess},
				UniformBucketLevelAccess: &storagev1.BucketIamConfigurationUniformBucketLevelAccess{Enabled: b.UniformAccess},
				PublicAccessPrevention:   b.PublicAccessPrevention,
			},
			Versioning: &storagev1.BucketVersioning{Enabled: b.Versioning},
		}
		if b.UniformAccess {
			item.IamConfiguration.UniformBucketLevelAccess.LockedTime = "2025-09-01T12:00:00.000Z"
		}
		if b.KMSKey != "" {
			item.Encryption = &storagev1.BucketEncryption{DefaultKmsKeyName: b.KMSKey}
		}
		if len(b.DataLocations) > 0 {
			item.CustomPlacementConfig = &storagev1.BucketCustomPlacementConfig{DataLocations: b.DataLocations}
		}
		out.Items = append(out.Items, item)
	}
	writeJSON(w, out)
}

// bucketLocationType is what Cloud Storage reports for a location: a
// region has a digit in its name, a dual-region is a predefined pair or
// configurable, the rest are multi-regions.
func bucketLocationType(b Bucket) string {
	switch {
	case len(b.DataLocations) > 0 || strings.HasPrefix(b.Location, "EUR") || strings.HasPrefix(b.Location, "NAM") || b.Location == "ASIA1":
		return "dual-region"
	case strings.ContainsAny(b.Location, "0123456789"):
		return "region"
	}
	return "multi-region"
}
