package awssim

import "net/http"

// serveKMS is not simulated yet.
func (s *Server) serveKMS(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: kms is not simulated yet"})
}
