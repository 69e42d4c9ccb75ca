package awssim

import (
	"maps"
	"net/http"
	"slices"
)

// serveCloudTrail answers DescribeTrails and GetTrailStatus in the AWS JSON
// 1.1 protocol.
func (s *Server) serveCloudTrail(w http.ResponseWriter, r *http.Request, req *request) {
	switch req.Action {
	case "DescribeTrails":
		var in struct {
			TrailNameList       []string `json:"trailNameList"`
			IncludeShadowTrails *bool    `json:"includeShadowTrails"`
		}
		if !decodeJSON(w, req, &in) {
			return
		}
		shadows := in.IncludeShadowTrails == nil || *in.IncludeShadowTrails
		list := []map[string]any{}
		for _, t := range visibleTrails(req.Account, req.Region, shadows) {
			if len(in.TrailNameList) > 0 && !slices.Contains(in.TrailNameList, t.Name) && !slices.Contains(in.TrailNameList, t.arn) {
				continue
			}
			list = append(list, t.describe())
		}
		writeJSON(w, jsonContentType, map[string]any{"trailList": list})
	case "GetTrailStatus":
		var in struct{ Name string }
		if !decodeJSON(w, req, &in) {
			return
		}
		// As in AWS, a bare name finds only trails whose home is this
		// region; a shadow trail must be asked for by ARN.
		for _, t := range visibleTrails(req.Account, req.Region, true) {
			if t.arn == in.Name || (t.Name == in.Name && t.home == req.Region) {
				writeJSON(w, jsonContentType, map[string]any{
					"IsLogging":          t.Logging,
					"LatestDeliveryTime": 1.7e9,
					"StartLoggingTime":   1.6e9,
				})
				return
			}
		}
		writeError(w, req, APIError{Status: 400, Code: "TrailNotFoundException",
			Message: "Unknown trail: " + in.Name + " for the user: " + req.Account.ID})
	default:
		writeError(w, req, unknownAction(req))
	}
}

// placedTrail is a trail with where it lives.
type placedTrail struct {
	Trail
	home string
	arn  string
}

// visibleTrails lists the trails DescribeTrails shows in region: those whose
// home it is and, with shadows, the multi-region trails of the account's
// other regions. Regions are walked in name order so answers are stable.
func visibleTrails(a *Account, region string, shadows bool) []placedTrail {
	var out []placedTrail
	for _, home := range slices.Sorted(maps.Keys(a.Regions)) {
		r := a.Regions[home]
		if r == nil {
			continue
		}
		for _, t := range r.Trails {
			if home == region || (shadows && t.MultiRegion) {
				out = append(out, placedTrail{Trail: t, home: home,
					arn: "arn:aws:cloudtrail:" + home + ":" + a.ID + ":trail/" + t.Name})
			}
		}
	}
	return out
}

func (t placedTrail) describe() map[string]any {
	d := map[string]any{
		"Name":                       t.Name,
		"S3BucketName":               "aws-cloudtrail-logs-" + t.Name,
		"IncludeGlobalServiceEvents": t.MultiRegion,
		"IsMultiRegionTrail":         t.MultiRegion,
		"HomeRegion":                 t.home,
		"TrailARN":                   t.arn,
		"LogFileValidationEnabled":   t.LogFileValidate,
		"HasCustomEventSelectors":    false,
		"HasInsightSelectors":        false,
		"IsOrganizationTrail":        false,
	}
	if t.KMSKeyID != "" {
		d["KmsKeyId"] = t.KMSKeyID
	}
	return d
}
