package gcpsim

import (
	"net/http"
	"strconv"
	"time"

	"google.golang.org/api/cloudkms/v1"
)

// listKMSLocations answers cloudkms.locations.list for a project.
func (s *Server) listKMSLocations(w http.ResponseWriter, c *call) {
	locs := s.estate.Locations
	pg, ok := pageOf(w, c, len(locs), "pageSize", 100, 100)
	if !ok {
		return
	}
	out := &cloudkms.ListLocationsResponse{NextPageToken: pg.next}
	for _, l := range locs[pg.start:pg.end] {
		out.Locations = append(out.Locations, &cloudkms.Location{
			Name:       "projects/" + c.ProjectID + "/locations/" + l,
			LocationId: l,
		})
	}
	writeJSON(w, out)
}

// keyRingsIn returns the project's key rings in a location.
func keyRingsIn(p *Project, location string) []KeyRing {
	var out []KeyRing
	for _, r := range p.KeyRings {
		if r.Location == location {
			out = append(out, r)
		}
	}
	return out
}

// listKeyRings answers cloudkms.keyRings.list in one location.
func (s *Server) listKeyRings(w http.ResponseWriter, c *call) {
	rings := keyRingsIn(c.Project, c.Args[0])
	pg, ok := pageOf(w, c, len(rings), "pageSize", 100, 1000)
	if !ok {
		return
	}
	out := &cloudkms.ListKeyRingsResponse{NextPageToken: pg.next, TotalSize: int64(len(rings))}
	for _, r := range rings[pg.start:pg.end] {
		out.KeyRings = append(out.KeyRings, &cloudkms.KeyRing{
			Name:       "projects/" + c.ProjectID + "/locations/" + r.Location + "/keyRings/" + r.Name,
			CreateTime: "2024-02-01T08:00:00.000000Z",
		})
	}
	writeJSON(w, out)
}

// listCryptoKeys answers cloudkms.cryptoKeys.list in one key ring; an
// unknown key ring is 404 NOT_FOUND.
func (s *Server) listCryptoKeys(w http.ResponseWriter, c *call) {
	var ring *KeyRing
	for _, r := range keyRingsIn(c.Project, c.Args[0]) {
		if r.Name == c.Args[1] {
			ring = &r
		}
	}
	if ring == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "notFound", "KeyRing "+c.r.URL.Path+" not found.")
		return
	}
	pg, ok := pageOf(w, c, len(ring.Keys), "pageSize", 100, 1000)
	if !ok {
		return
	}
	parent := "projects/" + c.ProjectID + "/locations/" + ring.Location + "/keyRings/" + ring.Name
	out := &cloudkms.ListCryptoKeysResponse{NextPageToken: pg.next, TotalSize: int64(len(ring.Keys))}
	for _, k := range ring.Keys[pg.start:pg.end] {
		out.CryptoKeys = append(out.CryptoKeys, cryptoKey(parent, k))
	}
	writeJSON(w, out)
}

// cryptoKey is a key as Cloud KMS answers it: algorithm and protection
// level in the version template, the primary version only for symmetric
// keys (which alone have one), rotation only when scheduled.
func cryptoKey(parent string, k CryptoKey) *cloudkms.CryptoKey {
	name := parent + "/cryptoKeys/" + k.Name
	level := k.ProtectionLevel
	if level == "" {
		level = "SOFTWARE"
	}
	algorithm := "GOOGLE_SYMMETRIC_ENCRYPTION"
	switch k.Purpose {
	case "ASYMMETRIC_SIGN":
		algorithm = "EC_SIGN_P256_SHA256"
	case "ASYMMETRIC_DECRYPT":
		algorithm = "RSA_DECRYPT_OAEP_3072_SHA256"
	case "MAC":
		algorithm = "HMAC_SHA256"
	}
	out := &cloudkms.CryptoKey{
		Name:                     name,
		Purpose:                  k.Purpose,
		CreateTime:               "2024-02-01T08:00:00.000000Z",
		ImportOnly:               k.ImportOnly,
		DestroyScheduledDuration: "2592000s",
		VersionTemplate:          &cloudkms.CryptoKeyVersionTemplate{Algorithm: algorithm, ProtectionLevel: level},
	}
	if k.Purpose == "ENCRYPT_DECRYPT" && k.PrimaryState != "" {
		out.Primary = &cloudkms.CryptoKeyVersion{
			Name:            name + "/cryptoKeyVersions/1",
			State:           k.PrimaryState,
			ProtectionLevel: level,
			Algorithm:       algorithm,
			CreateTime:      "2024-02-01T08:00:00.000000Z",
			GenerateTime:    "2024-02-01T08:00:00.000000Z",
		}
	}
	if k.RotationPeriod > 0 {
		out.RotationPeriod = strconv.FormatInt(int64(k.RotationPeriod/time.Second), 10) + "s"
		out.NextRotationTime = "2026-09-01T00:00:00Z"
	}
	return out
}
