package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// maxFormBytes is net/http's limit on a form body.
const maxFormBytes = 10 << 20

// parsePostForm fills req.PostForm as req.ParseForm does, without its second
// copy of every value into req.Form: the copy made ParseForm the largest
// allocator of the webhook under load. It takes the fast path only for
// the plain case (a form-encoded POST body, no query string); anything
// else goes to req.ParseForm itself, so the outcome never differs.
func parsePostForm(req *http.Request) error {
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

// readForm parses a webhook's form body (parsePostForm), mapping an
// oversized body to 413 and a malformed one to 400.
func readForm(req *http.Request) error {
	if err := parsePostForm(req); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return errTooLarge
		}
		return badRequest{"malformed form body"}
	}
	return nil
}
