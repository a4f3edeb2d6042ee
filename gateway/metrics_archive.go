package gateway

import "github.com/prometheus/client_golang/prometheus"

// ArchiveStatus is the audit archive's state as /metrics shows it.
type ArchiveStatus struct {
	// Healthy is false while the archiver cannot write the log.
	Healthy bool
	// WriteErrors counts the archiver's failed writes of the log.
	WriteErrors int64
}

// RegisterArchiveMetrics registers optin_archive_healthy and
// optin_archive_write_errors_total on m's registry, each read from status
// at every scrape (the archive's lag is optin_archiver_lag_seconds). status must be cheap
// (cached) and safe for concurrent use.
func RegisterArchiveMetrics(m *Metrics, status func() ArchiveStatus) {
	m.Registerer().MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "optin_archive_healthy",
			Help: "1 while the archiver writes the audit log, 0 from a failed write (a full disk) until it writes again and has caught up.",
		}, func() float64 {
			if status().Healthy {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "optin_archive_write_errors_total",
			Help: "Failed writes of the audit log by the archiver, as it records them in Redis (in serve or in optin-gateway archive).",
		}, func() float64 { return float64(status().WriteErrors) }),
	)
}
