package gateway

import "github.com/prometheus/client_golang/prometheus"

// SecurityMetrics are the security sink's metrics beside
// optin_security_events_total: optin_security_alerts_total{rule} and
// optin_security_events_dropped_total.
type SecurityMetrics struct {
	alerts  *prometheus.CounterVec
	dropped prometheus.Counter
}

// NewSecurityMetrics registers the security sink's metrics on m's
// registry.
func NewSecurityMetrics(m *Metrics) *SecurityMetrics {
	s := &SecurityMetrics{
		alerts:  newCounterVec("optin_security_alerts_total", "Alerts raised by the anomaly rules, by rule: signature_failures, reveals, erasures (docs/incident-response.md).", "rule"),
		dropped: newCounter("optin_security_events_dropped_total", "Security events lost: more distinct events in a second than the sink holds, or the store unreachable when they were flushed."),
	}
	for _, r := range []string{"signature_failures", "reveals", "erasures"} {
		s.alerts.WithLabelValues(r)
	}
	m.Registerer().MustRegister(s.alerts, s.dropped)
	return s
}

// CountAlert counts an alert of rule.
func (s *SecurityMetrics) CountAlert(rule string) { s.alerts.WithLabelValues(rule).Inc() }

// CountDropped counts n lost security events.
func (s *SecurityMetrics) CountDropped(n int) { s.dropped.Add(float64(n)) }
