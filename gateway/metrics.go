package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Metrics are the gateway's Prometheus metrics, served at /metrics. Each
// Metrics has a registry of its own (with the Go runtime and process
// collectors), so tests and several servers in one process do not collide.
// Its methods are safe for concurrent use.
type Metrics struct {
	reg           *prometheus.Registry
	webhooks      *prometheus.CounterVec
	transitions   *prometheus.CounterVec
	replyFailures *prometheus.CounterVec
	sigFailures   *prometheus.CounterVec
	requests      *prometheus.HistogramVec
	redisSeconds  *prometheus.HistogramVec
	redisErrors   *prometheus.CounterVec
	archiverLag   prometheus.Gauge
	outboundDepth prometheus.Gauge
	security      *prometheus.CounterVec
	revDelay      prometheus.Histogram
	revBreaches   prometheus.Counter
	eventTries    *prometheus.CounterVec
}

// NewMetrics returns the gateway's metrics on a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg:           prometheus.NewRegistry(),
		webhooks:      newCounterVec("optin_webhooks_total", "Inbound provider webhooks answered, by provider and outcome (a decision such as prompted or opt_out, duplicate for a retried message id, or the failure: bad_signature, bad_request, not_found, too_large, unavailable, error).", "provider", "outcome"),
		transitions:   newCounterVec("optin_transitions_total", "Consent state changes written, by campaign state before and after (none, pending, subscribed, unsubscribed).", "from", "to"),
		replyFailures: newCounterVec("optin_reply_failures_total", "Replies that could not be rendered or sent, by provider.", "provider"),
		sigFailures:   newCounterVec("optin_signature_failures_total", "Webhooks refused for a missing or invalid provider signature, by provider.", "provider"),
		requests:      newHistogramVec("optin_http_request_duration_seconds", "HTTP request latency by route pattern and status code.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "route", "code"),
		redisSeconds:  newHistogramVec("optin_redis_duration_seconds", "Redis round trip latency by operation (a command name, or pipeline); the count is the number of round trips.", []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}, "op"),
		redisErrors:   newCounterVec("optin_redis_errors_total", "Redis round trips that failed, by operation.", "op"),
		archiverLag:   newGauge("optin_archiver_lag_seconds", "Age of the oldest outbox event not yet in the audit log; 0 until the archiver sets it."),
		outboundDepth: newGauge("optin_outbound_queue_depth", "Replies waiting in the outbound queue; 0 until an outbound queue sets it."),
		security:      newCounterVec("optin_security_events_total", "Security events of the admin API, by kind: bad_token (401), auth_rate_limited (429), cross_tenant (a token asking about another tenant, 404), forbidden (a role asking beyond its rights, 403).", "kind"),
		revDelay:      newHistogram("optin_revocation_delay_business_days", "US business days between a person's revocation through another channel (or support) and its application.", []float64{0, 1, 2, 3, 5, 7, 10, 15, 20, 30}),
		revBreaches:   newCounter("optin_revocation_breaches_total", "Revocations applied more than 10 US business days after the person revoked (a TCPA compliance breach)."),
		eventTries:    newCounterVec("optin_event_deliveries_total", "Tries of event webhook deliveries to the businesses' endpoints, by outcome: delivered (2xx), failed (tried again), dead (the last try failed: dead-lettered), dropped (the endpoint was deleted).", "outcome"),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.webhooks, m.transitions, m.replyFailures, m.sigFailures, m.requests,
		m.redisSeconds, m.redisErrors, m.archiverLag, m.outboundDepth,
		m.security, m.revDelay, m.revBreaches, m.eventTries,
	)
	for _, o := range []string{"delivered", "failed", "dead", "dropped"} {
		m.eventTries.WithLabelValues(o)
	}
	for _, k := range []string{"bad_token", "auth_rate_limited", "cross_tenant", "forbidden"} {
		m.security.WithLabelValues(k)
	}
	// Failure counters read 0 from the start rather than appearing with
	// the first failure, so alerts on their rate work from the first scrape.
	m.replyFailures.WithLabelValues(ProviderTwilio)
	m.sigFailures.WithLabelValues(ProviderTwilio)
	return m
}

// newCounterVec, newCounter, newGauge, newHistogramVec and newHistogram
// make a metric of name and help (labels and buckets where it has them),
// not yet registered.
func newCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func newCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func newGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

func newHistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}

func newHistogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registerer lets other packages register metrics of their own beside the
// gateway's.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// ObserveRedis records one Redis round trip: op is the command name or
// "pipeline", failed whether it returned an error other than a miss. Give
// it to store.Options.Observe.
func (m *Metrics) ObserveRedis(op string, d time.Duration, failed bool) {
	m.redisSeconds.WithLabelValues(op).Observe(d.Seconds())
	if failed {
		m.redisErrors.WithLabelValues(op).Inc()
	}
}

// ObserveReplyFailure counts a reply that could not be sent through
// provider's API and was given up on (dead-lettered).
func (m *Metrics) ObserveReplyFailure(provider string) {
	m.replyFailures.WithLabelValues(provider).Inc()
}

// ObserveEventDelivery counts one try of an event webhook delivery by
// its outcome (events.Outcome*).
func (m *Metrics) ObserveEventDelivery(outcome string) {
	m.eventTries.WithLabelValues(outcome).Inc()
}

// SetArchiverLag sets optin_archiver_lag_seconds; the archiver calls it.
func (m *Metrics) SetArchiverLag(d time.Duration) { m.archiverLag.Set(d.Seconds()) }

// SetOutboundQueueDepth sets optin_outbound_queue_depth; the outbound
// queue calls it.
func (m *Metrics) SetOutboundQueueDepth(n int) { m.outboundDepth.Set(float64(n)) }

// observeSecurityEvent counts a security event of kind.
func (m *Metrics) observeSecurityEvent(kind string) { m.security.WithLabelValues(kind).Inc() }

// observeRevocationDelay records the business days a revocation took to
// be applied, and a breach when they exceed the limit.
func (m *Metrics) observeRevocationDelay(days int, late bool) {
	m.revDelay.Observe(float64(days))
	if late {
		m.revBreaches.Inc()
	}
}

// observeTransitions counts the state changes of dec, applied on sub.
func (m *Metrics) observeTransitions(sub optin.Subscriber, dec optin.Decision) {
	if !dec.Changed {
		return
	}
	for id, next := range dec.Next.Enrollments {
		if prev := sub.Enrollments[id].State; prev != next.State {
			m.transitions.WithLabelValues(prev.String(), next.State.String()).Inc()
		}
	}
}

// observeRequest records a finished request from the access log's fields:
// its latency, and for a provider webhook its outcome (the "outcome" field
// the handler logged, or the failure its status stands for).
func (m *Metrics) observeRequest(route string, status int, d time.Duration, fields []zap.Field) {
	m.requests.WithLabelValues(route, statusCode(status)).Observe(d.Seconds())
	var provider, outcome string
	for _, f := range fields {
		switch f.Key {
		case "provider":
			provider = f.String
		case "outcome":
			outcome = f.String
		}
	}
	if provider == "" {
		return
	}
	if outcome == "" || status != http.StatusOK {
		outcome = failureOutcome(status)
	}
	if status == http.StatusForbidden {
		m.sigFailures.WithLabelValues(provider).Inc()
	}
	m.webhooks.WithLabelValues(provider, outcome).Inc()
}

// statusCode is strconv.Itoa without an allocation for the usual codes.
func statusCode(status int) string {
	switch status {
	case http.StatusOK:
		return "200"
	case http.StatusForbidden:
		return "403"
	case http.StatusServiceUnavailable:
		return "503"
	}
	return strconv.Itoa(status)
}

// failureOutcome names the failure a webhook's status stands for.
func failureOutcome(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusForbidden:
		return "bad_signature"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusOK:
		return "ok"
	}
	return "error"
}

// handleMetricsGet serves the Prometheus metrics.
func (s *Server) handleMetricsGet(c echo.Context) error {
	s.metricsHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}
