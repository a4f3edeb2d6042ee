package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Schemes of Options.URL that name a Redis Cluster.
const (
	ClusterScheme    = "redis+cluster"
	ClusterTLSScheme = "rediss+cluster"
)

// Client settings shared by a single Redis and a cluster. They keep a
// request's time bounded by its context (the gateway's request timeout)
// rather than by queues: a slow or absent Redis turns into a quick
// optin.ErrUnavailable, and the gateway into a 503 with Retry-After.
const (
	dialTimeout = time.Second
	// maxRetries retries a failed command once, on a fresh connection.
	maxRetries = 1
	// dialerRetries is how often one dial is tried before it fails. While
	// Redis is gone a dial fails at once (connection refused); retrying
	// with go-redis's default of 5 attempts 100 ms apart only holds the
	// request 400 ms longer before its 503.
	dialerRetries = 1
)

// newClient returns the client for url: a ClusterClient for a
// redis+cluster:// URL, a Client otherwise.
func newClient(rawURL string) (redis.UniversalClient, error) {
	if isClusterURL(rawURL) {
		co, err := ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		co.DialTimeout = dialTimeout
		co.MaxRetries = maxRetries
		co.DialerRetries = dialerRetries
		co.ContextTimeoutEnabled = true
		cc := redis.NewClusterClient(co)
		cc.AddHook(clusterReloader{cc})
		return cc, nil
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: redis url: %w", err)
	}
	ro.DialTimeout = dialTimeout
	ro.MaxRetries = maxRetries
	ro.DialerRetries = dialerRetries
	ro.ContextTimeoutEnabled = true
	return redis.NewClient(ro), nil
}

func isClusterURL(rawURL string) bool {
	return strings.HasPrefix(rawURL, ClusterScheme+"://") || strings.HasPrefix(rawURL, ClusterTLSScheme+"://")
}

// ParseClusterURL parses a Redis Cluster URL,
//
//	redis+cluster://[user:password@]host:port[,host:port…][?option=value…]
//
// (rediss+cluster:// for TLS) into go-redis cluster options. The hosts are
// seed nodes: any reachable one tells the client the whole cluster's
// layout. The options are go-redis's cluster URL options (dial_timeout,
// pool_size, read_timeout, …), and addr=host:port adds another seed node.
// The error never repeats the URL, which may hold a password.
func ParseClusterURL(rawURL string) (*redis.ClusterOptions, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || (scheme != ClusterScheme && scheme != ClusterTLSScheme) {
		return nil, fmt.Errorf("store: redis cluster url: want %s:// or %s://", ClusterScheme, ClusterTLSScheme)
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	seeds := strings.Split(hosts, ",")
	for _, h := range seeds {
		if h == "" || !strings.Contains(h, ":") {
			return nil, fmt.Errorf("store: redis cluster url: seed nodes must be host:port, separated by commas")
		}
	}
	u, err := url.Parse(strings.TrimSuffix(scheme, "+cluster") + "://" + userinfo + seeds[0] + tail)
	if err != nil {
		return nil, fmt.Errorf("store: redis cluster url: malformed")
	}
	if u.Path != "" && u.Path != "/" && u.Path != "/0" {
		return nil, fmt.Errorf("store: redis cluster url: a cluster has only database 0")
	}
	u.Path = ""
	q := u.Query()
	for _, h := range seeds[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	co, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("store: redis cluster url: %w", err)
	}
	return co, nil
}

// clusterReloader makes a cluster client fetch the cluster's layout again
// as soon as a node fails to answer, so that after a failover the next
// request goes to the promoted replica instead of the dead master until
// go-redis's periodic reload (every 10 s) or a MOVED reply.
type clusterReloader struct{ cc *redis.ClusterClient }

func (h clusterReloader) reloadOn(ctx context.Context, err error) {
	var netErr net.Error
	if err != nil && (errors.As(err, &netErr) || isLoading(err)) {
		h.cc.ReloadState(ctx)
	}
}

func (h clusterReloader) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h clusterReloader) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.reloadOn(ctx, err)
		return err
	}
}

func (h clusterReloader) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.reloadOn(ctx, err)
		return err
	}
}
