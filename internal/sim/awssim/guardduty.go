package awssim

import "net/http"

// serveGuardDuty is not simulated yet.
func (s *Server) serveGuardDuty(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: guardduty is not simulated yet"})
}
