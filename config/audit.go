package config

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults of the audit settings.
const (
	DefaultAuditRetention    = 5 * 365 * 24 * time.Hour // five years
	DefaultAuditSegmentBytes = 64 << 20
	DefaultAuditLeaseTTL     = 10 * time.Second
	DefaultAuditMaxLag       = 5 * time.Minute
)

// Audit configures the durable audit log.
type Audit struct {
	// Dir is where the segments live: DataDir/audit.
	Dir string
	// Retention is how long a sealed segment is kept after its last record.
	Retention time.Duration
	// SegmentBytes is the size at which the active segment is sealed.
	SegmentBytes int64
	// LeaseTTL is how long the archiver's lease outlives a dead holder.
	LeaseTTL time.Duration
	// ArchiveInServe runs the archiver inside serve (default true); turn it
	// off when `optin-gateway archive` runs on its own.
	ArchiveInServe bool
	// MaxLag is how old the oldest event waiting in the outbox may grow
	// before /readyz fails (audit_archive) and the archiver logs it.
	MaxLag time.Duration
}

// auditFile is the audit section of the YAML file.
type auditFile struct {
	Retention      string         `yaml:"retention"`
	SegmentBytes   *int64         `yaml:"segment_bytes"`
	LeaseTTL       *time.Duration `yaml:"lease_ttl"`
	ArchiveInServe *bool          `yaml:"archive_in_serve"`
	MaxLag         *time.Duration `yaml:"max_lag"`
}

// loadAudit applies OPTIN_AUDIT_RETENTION, OPTIN_AUDIT_LEASE_TTL,
// OPTIN_AUDIT_ARCHIVE_IN_SERVE and OPTIN_AUDIT_MAX_LAG over f and
// validates the result.
func loadAudit(f auditFile, getenv func(string) string, dataDir string) (Audit, error) {
	a := Audit{
		Dir:            filepath.Join(dataDir, "audit"),
		Retention:      DefaultAuditRetention,
		SegmentBytes:   DefaultAuditSegmentBytes,
		LeaseTTL:       DefaultAuditLeaseTTL,
		ArchiveInServe: true,
		MaxLag:         DefaultAuditMaxLag,
	}
	retention := setting{"audit.retention", f.Retention}
	retention.set(getenv, "OPTIN_AUDIT_RETENTION")
	if retention.value != "" {
		d, err := parseLongDuration(retention.value)
		if err != nil || d <= 0 {
			return a, fmt.Errorf("config: %s: must be a positive duration such as 5y, 1825d or 43800h", retention.name)
		}
		a.Retention = d
	}
	if err := loadDuration(getenv, "audit.lease_ttl", f.LeaseTTL, "OPTIN_AUDIT_LEASE_TTL", &a.LeaseTTL,
		func(d time.Duration) bool { return d >= 100*time.Millisecond }, "a duration of at least 100ms, e.g. 10s"); err != nil {
		return a, err
	}
	if f.SegmentBytes != nil {
		if *f.SegmentBytes < 4096 {
			return a, fmt.Errorf("config: audit.segment_bytes: must be at least 4096")
		}
		a.SegmentBytes = *f.SegmentBytes
	}
	if err := loadBool(getenv, "audit.archive_in_serve", f.ArchiveInServe, "OPTIN_AUDIT_ARCHIVE_IN_SERVE", &a.ArchiveInServe); err != nil {
		return a, err
	}
	if err := loadDuration(getenv, "audit.max_lag", f.MaxLag, "OPTIN_AUDIT_MAX_LAG", &a.MaxLag,
		func(d time.Duration) bool { return d > 0 }, "a positive duration, e.g. 5m"); err != nil {
		return a, err
	}
	return a, nil
}

// loadBool sets *dst from the file's value (nil when absent) or, over it,
// environment variable env; an error names the one that does not parse
// (the file's key is name).
func loadBool(getenv func(string) string, name string, file *bool, env string, dst *bool) error {
	s := setting{name, ""}
	if file != nil {
		s.value = strconv.FormatBool(*file)
	}
	s.set(getenv, env)
	if s.value == "" {
		return nil
	}
	b, err := strconv.ParseBool(s.value)
	if err != nil {
		return fmt.Errorf("config: %s: must be true or false", s.name)
	}
	*dst = b
	return nil
}

// loadDuration sets *dst from the file's value (nil when absent) or, over
// it, environment variable env; a value that does not parse or that ok
// refuses is an error naming it and saying it must be must.
func loadDuration(getenv func(string) string, name string, file *time.Duration, env string, dst *time.Duration, ok func(time.Duration) bool, must string) error {
	s := setting{name, ""}
	if file != nil {
		s.value = file.String()
	}
	s.set(getenv, env)
	if s.value == "" {
		return nil
	}
	d, err := time.ParseDuration(s.value)
	if err != nil || !ok(d) {
		return fmt.Errorf("config: %s: must be %s", s.name, must)
	}
	*dst = d
	return nil
}

// parseLongDuration parses a Go duration or a whole number of days ("30d")
// or years of 365 days ("5y").
func parseLongDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"y": 365 * 24 * time.Hour, "d": 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 || int64(v) > math.MaxInt64/int64(unit) {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	return time.ParseDuration(s)
}
