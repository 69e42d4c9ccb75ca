package awssim

import "net/http"

// serveEC2 is not simulated yet.
func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: ec2 is not simulated yet"})
}
