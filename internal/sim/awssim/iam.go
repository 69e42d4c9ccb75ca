package awssim

import "net/http"

// serveIAM is not simulated yet.
func (s *Server) serveIAM(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: iam is not simulated yet"})
}
