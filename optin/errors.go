package optin

import "errors"

// Sentinel errors of the domain. Adapters translate their own failures into
// these (store) and map them to HTTP statuses in exactly one place (gateway).
var (
	// ErrConflict means the subscriber changed since it was loaded; reload
	// and decide again.
	ErrConflict = errors.New("conflict")
	// ErrDuplicate means the provider message was already processed; the
	// stored reply is the answer.
	ErrDuplicate = errors.New("duplicate message")
	// ErrNotFound means the tenant, number or subscriber does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable means the backing store cannot be reached right now;
	// the caller may retry later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrInvalid means a request or configuration is malformed.
	ErrInvalid = errors.New("invalid")
)
