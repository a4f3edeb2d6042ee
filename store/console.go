package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// The support console's sessions live in Redis (gateway.ConsoleSessions),
// so that signing out, revoking the token and an idle timeout end them on
// every gateway at once. A session is a hash at consoleSessionKey (fields
// tok, th, ten, csrf, c = created and s = last seen in Unix milliseconds)
// whose TTL is the idle timeout, capped by the absolute limit; the
// token's set at consoleTokenKey lists the sessions it opened.

// consoleOpenScript writes a session and adds it to its token's set,
// whose TTL is kept at least the absolute limit (ARGV[7] ms).
var consoleOpenScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'tok', ARGV[1], 'th', ARGV[2], 'ten', ARGV[3], 'csrf', ARGV[4], 'c', ARGV[5], 's', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SADD', KEYS[2], ARGV[8])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[7]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
return 1
`)

// consoleTouchScript returns a live session's fields and marks it seen at
// ARGV[1] (ms); a session idle for ARGV[2] ms or older than ARGV[3] ms is
// deleted and nil returned, as for none.
var consoleTouchScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'tok', 'th', 'ten', 'csrf', 'c', 's')
if not f[1] then return false end
local now, idle, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local c, s = tonumber(f[5]), tonumber(f[6])
if not c or not s or now - s >= idle or now - c >= max then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('HSET', KEYS[1], 's', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.min(idle, c + max - now))
return f
`)

// consoleIDHash is the name a session id is stored under.
func consoleIDHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// OpenConsoleSession stores sess under the session id id, alive while it
// is used at least once every idle and at most max after sess.Created.
func (s *Store) OpenConsoleSession(ctx context.Context, id string, sess optin.ConsoleSession, idle, max time.Duration) error {
	h := consoleIDHash(id)
	created := strconv.FormatInt(sess.Created.UnixMilli(), 10)
	ttl := min(idle, max)
	err := consoleOpenScript.Run(ctx, s.rdb, []string{consoleSessionKey(h), consoleTokenKey(sess.TokenID)},
		sess.TokenID, sess.TokenHash, sess.Tenant, base64.StdEncoding.EncodeToString(sess.CSRF), created,
		ttl.Milliseconds(), max.Milliseconds(), h).Err()
	return translate("console session open", err)
}

// TouchConsoleSession returns the session id names and marks it seen at
// now. ok is false when there is none, or it has ended: not used for idle
// or opened max ago (it is then deleted).
func (s *Store) TouchConsoleSession(ctx context.Context, id string, now time.Time, idle, max time.Duration) (optin.ConsoleSession, bool, error) {
	res, err := consoleTouchScript.Run(ctx, s.rdb, []string{consoleSessionKey(consoleIDHash(id))},
		now.UnixMilli(), idle.Milliseconds(), max.Milliseconds()).Slice()
	if errors.Is(err, redis.Nil) {
		return optin.ConsoleSession{}, false, nil
	}
	if err != nil {
		return optin.ConsoleSession{}, false, translate("console session touch", err)
	}
	f := make([]string, len(res))
	for i, v := range res {
		f[i], _ = v.(string)
	}
	if len(f) != 6 {
		return optin.ConsoleSession{}, false, fmt.Errorf("store: console session touch: %d fields", len(f))
	}
	csrf, err := base64.StdEncoding.DecodeString(f[3])
	c, cerr := strconv.ParseInt(f[4], 10, 64)
	if err != nil || cerr != nil {
		return optin.ConsoleSession{}, false, fmt.Errorf("store: console session touch: malformed session")
	}
	return optin.ConsoleSession{TokenID: f[0], TokenHash: f[1], Tenant: f[2], CSRF: csrf,
		Created: time.UnixMilli(c).UTC(), LastSeen: now}, true, nil
}

// CloseConsoleSession deletes the session id names (opened with tokenID).
func (s *Store) CloseConsoleSession(ctx context.Context, id, tokenID string) error {
	h := consoleIDHash(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, consoleSessionKey(h))
		p.SRem(ctx, consoleTokenKey(tokenID), h)
		return nil
	})
	return translate("console session close", err)
}

// CloseTokenConsoleSessions deletes every session opened with tokenID and
// returns how many were live.
func (s *Store) CloseTokenConsoleSessions(ctx context.Context, tokenID string) (int, error) {
	hashes, err := s.rdb.SMembers(ctx, consoleTokenKey(tokenID)).Result()
	if err != nil {
		return 0, translate("console sessions of token", err)
	}
	var dels []*redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range hashes {
			dels = append(dels, p.Del(ctx, consoleSessionKey(h)))
		}
		p.Del(ctx, consoleTokenKey(tokenID))
		return nil
	})
	if err != nil {
		return 0, translate("console sessions of token close", err)
	}
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, nil
}
