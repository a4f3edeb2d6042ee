package gateway

import "github.com/prometheus/client_golang/prometheus"

// PersistenceMetrics are the metrics of the check of Redis's persistence:
// optin_redis_persistence_ok and optin_redis_truncated_loads_total. They
// exist only where the check runs (not with the embedded Redis).
type PersistenceMetrics struct {
	ok        prometheus.Gauge
	truncated prometheus.Counter
}

// NewPersistenceMetrics registers the persistence metrics on m's
// registry. The gauge reads 0 until the first check sets it.
func NewPersistenceMetrics(m *Metrics) *PersistenceMetrics {
	p := &PersistenceMetrics{
		ok:        newGauge("optin_redis_persistence_ok", "1 while Redis persists every write before acknowledging it (AOF on, appendfsync always, last AOF write and rewrite ok, aof-load-truncated no), 0 otherwise."),
		truncated: newCounter("optin_redis_truncated_loads_total", "Restarts of Redis that may have loaded a cut AOF tail without an error (aof-load-truncated yes, or not readable): acknowledged writes may be gone."),
	}
	m.Registerer().MustRegister(p.ok, p.truncated)
	return p
}

// SetOK sets optin_redis_persistence_ok.
func (p *PersistenceMetrics) SetOK(ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	p.ok.Set(v)
}

// CountTruncatedLoad counts a restart that may have loaded a cut AOF tail.
func (p *PersistenceMetrics) CountTruncatedLoad() { p.truncated.Inc() }
