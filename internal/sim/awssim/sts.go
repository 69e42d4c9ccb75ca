package awssim

import "net/http"

// serveSTS is not simulated yet.
func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: sts is not simulated yet"})
}
