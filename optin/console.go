package optin

import "time"

// ConsoleSession is a support console session as the store keeps it: who
// opened it and when it was last used. The cookie holds only a random id;
// signing out deletes the session, so every copy of the cookie ends with it.
type ConsoleSession struct {
	// TokenID is the id of the token the session was opened with
	// ("operator" for the operator token); deleting the token ends it.
	TokenID string
	// TokenHash is the SHA-256 (hex) of that token: a session outlives
	// neither its token nor a change of the operator token.
	TokenHash string
	Tenant    string
	CSRF      []byte // the secret the forms' CSRF tokens derive from
	Created   time.Time
	LastSeen  time.Time
}
