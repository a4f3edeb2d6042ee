package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/url"
)

// maxFormBytes is net/http's limit on a form body.
const maxFormBytes = 10 << 20

// parseForm fills req.PostForm as req.ParseForm does, without its second
// copy of every value into req.Form: the copy made ParseForm the largest
// allocator of the webhook under load. It takes the fast path only for
// the plain case (a form-encoded POST body, no query string); anything
// else goes to req.ParseForm itself, so the outcome never differs.
func parseForm(req *http.Request) error {
	if req.PostForm != nil || req.Method != http.MethodPost || req.URL.RawQuery != "" || req.Body == nil ||
		req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return req.ParseForm()
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxFormBytes+1))
	if err != nil {
		req.PostForm = url.Values{}
		return err
	}
	if len(b) > maxFormBytes {
		req.PostForm = url.Values{}
		return errors.New("http: POST too large")
	}
	req.PostForm, err = url.ParseQuery(string(b))
	return err
}
