package awssim

import "net/http"

// serveRDS is not simulated yet.
func (s *Server) serveRDS(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: rds is not simulated yet"})
}
