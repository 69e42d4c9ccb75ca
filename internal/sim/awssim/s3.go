package awssim

import "net/http"

// serveS3 is not simulated yet.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, req *request) {
	writeError(w, req, APIError{Status: 501, Code: "NotImplemented", Message: "awssim: s3 is not simulated yet"})
}

// restAction names the operation of a REST-protocol request (S3, GuardDuty)
// from its method, path and query.
func restAction(service string, r *http.Request) string { return r.Method + " " + r.URL.Path }
