package awssim

import "net/http"

// serveCloudTrail is not simulated yet.
func (s *Server) serveCloudTrail(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: cloudtrail is not simulated yet"})
}
