package awssim

import (
	"encoding/json"
	"net/http"
)

const jsonContentType = "application/x-amz-json-1.1"

// serveKMS answers ListKeys, DescribeKey and GetKeyRotationStatus in the
// AWS JSON 1.1 protocol.
func (s *Server) serveKMS(w http.ResponseWriter, r *http.Request, req *request) {
	reg := req.Account.Regions[req.Region]
	var keys []KMSKey
	if reg != nil {
		keys = reg.KMSKeys
	}
	var in struct {
		KeyID  string `json:"KeyId"`
		Limit  *int
		Marker string
	}
	if !decodeJSON(w, req, &in) {
		return
	}
	switch req.Action {
	case "ListKeys":
		size := 100
		if in.Limit != nil {
			size = *in.Limit
			if size < 1 || size > 1000 {
				writeError(w, req, APIError{Status: 400, Code: "ValidationException", Message: "Limit must be from 1 to 1000"})
				return
			}
		}
		start, end, next, err := pageOf(len(keys), in.Marker, size)
		if err != nil {
			writeError(w, req, APIError{Status: 400, Code: "InvalidMarkerException", Message: err.Error()})
			return
		}
		out := struct {
			Keys       []map[string]string
			NextMarker string `json:",omitempty"`
			Truncated  bool
		}{Keys: []map[string]string{}, NextMarker: next, Truncated: next != ""}
		for _, k := range keys[start:end] {
			out.Keys = append(out.Keys, map[string]string{"KeyId": k.ID, "KeyArn": keyARN(req, k.ID)})
		}
		writeJSON(w, jsonContentType, out)
	case "DescribeKey":
		k, ok := findKey(w, req, keys, in.KeyID)
		if !ok {
			return
		}
		manager, state, usage, spec := "AWS", "Disabled", "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT"
		if k.CustomerManaged {
			manager = "CUSTOMER"
		}
		if k.Enabled {
			state = "Enabled"
		}
		algorithms := []string{"SYMMETRIC_DEFAULT"}
		if !k.Symmetric {
			usage, spec, algorithms = "SIGN_VERIFY", "RSA_2048", []string{"RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"}
		}
		meta := map[string]any{
			"AWSAccountId":          req.Account.ID,
			"KeyId":                 k.ID,
			"Arn":                   keyARN(req, k.ID),
			"CreationDate":          1.7e9,
			"Enabled":               k.Enabled,
			"Description":           "",
			"KeyUsage":              usage,
			"KeyState":              state,
			"Origin":                "AWS_KMS",
			"KeyManager":            manager,
			"CustomerMasterKeySpec": spec,
			"KeySpec":               spec,
			"MultiRegion":           false,
		}
		if usage == "ENCRYPT_DECRYPT" {
			meta["EncryptionAlgorithms"] = algorithms
		} else {
			meta["SigningAlgorithms"] = algorithms
		}
		writeJSON(w, jsonContentType, map[string]any{"KeyMetadata": meta})
	case "GetKeyRotationStatus":
		k, ok := findKey(w, req, keys, in.KeyID)
		if !ok {
			return
		}
		if !k.Symmetric {
			writeError(w, req, APIError{Status: 400, Code: "UnsupportedOperationException",
				Message: keyARN(req, k.ID) + " key usage or key spec does not support automatic key rotation"})
			return
		}
		// AWS rotates the keys it manages every year, and says so.
		enabled := k.Rotation || !k.CustomerManaged
		out := map[string]any{"KeyId": keyARN(req, k.ID), "KeyRotationEnabled": enabled}
		if enabled {
			out["RotationPeriodInDays"] = 365
		}
		writeJSON(w, jsonContentType, out)
	default:
		writeError(w, req, unknownAction(req))
	}
}

// findKey resolves a key ID or key ARN as KMS does, answering
// NotFoundException when the region has no such key.
func findKey(w http.ResponseWriter, req *request, keys []KMSKey, id string) (KMSKey, bool) {
	if id == "" {
		writeError(w, req, APIError{Status: 400, Code: "ValidationException", Message: "KeyId is required"})
		return KMSKey{}, false
	}
	for _, k := range keys {
		if k.ID == id || keyARN(req, k.ID) == id {
			return k, true
		}
	}
	writeError(w, req, APIError{Status: 400, Code: "NotFoundException", Message: "Key '" + id + "' does not exist"})
	return KMSKey{}, false
}

func keyARN(req *request, id string) string {
	return "arn:aws:kms:" + req.Region + ":" + req.Account.ID + ":key/" + id
}

// decodeJSON reads a JSON protocol request body into v, answering
// SerializationException when it is not JSON.
func decodeJSON(w http.ResponseWriter, req *request, v any) bool {
	if len(req.Body) == 0 {
		return true
	}
	if err := json.Unmarshal(req.Body, v); err != nil {
		writeError(w, req, APIError{Status: 400, Code: "SerializationException", Message: "awssim: request body: " + err.Error()})
		return false
	}
	return true
}
