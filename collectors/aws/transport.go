package aws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// bufferedBodies hands net/http request bodies it knows to be in memory.
//
// smithy-go wraps request bodies in a reader whose WriteTo answers io.EOF
// once closed, and closes it as soon as the response headers are in.
// net/http flushes the headers of a body it cannot size up front, writes the
// body, then reads it once more to rule out surplus bytes. When the response
// arrives in between (likely on a fast link, certain on loopback), that read
// fails and the transport closes the connection under the response still
// being read ("use of closed network connection"). The SDK retries it, but
// each retry costs a call against the rate limit, and with one attempt left
// it becomes a not_assessed finding. The collector only sends small query
// bodies (it never uploads), so holding them in memory costs nothing.
type bufferedBodies struct{ next aws.HTTPClient }

func (b bufferedBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("buffer request body: %w", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return b.next.Do(r)
}
