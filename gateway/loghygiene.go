package gateway

import (
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

// Log hygiene: what a request makes the gateway log before it is known
// who sent it. Until a request is authenticated (a provider's signature
// verified, a bearer token accepted), anyone could have written it: its
// failure is logged as a fixed reason (reasonOf), never the error's text,
// which may quote what the request held (a parameter's name of 64 KiB).

const authenticatedKey = "authenticated"

// markAuthenticated records that the request's sender is known: from
// here on its errors are logged in full.
func markAuthenticated(c interface{ Set(string, any) }) { c.Set(authenticatedKey, true) }

// authenticated reports whether markAuthenticated was called.
func authenticated(c interface{ Get(string) any }) bool {
	ok, _ := c.Get(authenticatedKey).(bool)
	return ok
}

// maxUnauthenticatedMessage bounds the error message an unauthenticated
// request gets back; a longer one (quoting the request) is replaced by
// the status's text.
const maxUnauthenticatedMessage = 100

// reasonOf is the fixed reason logged for a request that failed with
// status before it was authenticated.
func reasonOf(status int, err error) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		if errors.Is(err, errBadSignature) {
			return "bad_signature"
		}
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestTimeout:
		return "body_timeout"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	return "status_" + strconv.Itoa(status)
}

// errorField is the log field of a failed request's error: the error for
// an authenticated request or a server-side failure (5xx, whose text the
// gateway wrote), else the fixed reason.
func errorField(c interface{ Get(string) any }, status int, err error) zap.Field {
	if status >= 500 || authenticated(c) {
		return zap.Error(err)
	}
	return zap.String("error", reasonOf(status, err))
}

// logMethod is the request's method for the log: one of HTTP's, or
// "other" (a method is any token the client sends).
func logMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
