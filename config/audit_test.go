package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestLoadAudit(t *testing.T) {
	const day = 24 * time.Hour
	runLoads(t, "Load().Audit", func(c *Config) Audit { return c.Audit }, same[Audit], []loadCase[Audit]{
		{
			name: "defaults",
			want: Audit{Dir: filepath.Join("./data", "audit"), Retention: 5 * 365 * day, SegmentBytes: 64 << 20, LeaseTTL: 10 * time.Second, ArchiveInServe: true, MaxLag: 5 * time.Minute},
		},
		{
			name: "file",
			yaml: "audit: {retention: 7y, segment_bytes: 1048576, lease_ttl: 3s, archive_in_serve: false, max_lag: 10m}\ndata_dir: /var/lib/optin\n",
			want: Audit{Dir: "/var/lib/optin/audit", Retention: 7 * 365 * day, SegmentBytes: 1 << 20, LeaseTTL: 3 * time.Second, ArchiveInServe: false, MaxLag: 10 * time.Minute},
		},
		{
			name: "environment over file",
			yaml: "audit: {retention: 7y, lease_ttl: 3s, max_lag: 10m}\n",
			env:  map[string]string{"OPTIN_AUDIT_RETENTION": "1825d", "OPTIN_AUDIT_LEASE_TTL": "500ms", "OPTIN_AUDIT_ARCHIVE_IN_SERVE": "false", "OPTIN_AUDIT_MAX_LAG": "90s"},
			want: Audit{Dir: filepath.Join("./data", "audit"), Retention: 1825 * day, SegmentBytes: 64 << 20, LeaseTTL: 500 * time.Millisecond, ArchiveInServe: false, MaxLag: 90 * time.Second},
		},
		{
			name: "Go duration",
			env:  map[string]string{"OPTIN_AUDIT_RETENTION": "43800h"},
			want: Audit{Dir: filepath.Join("./data", "audit"), Retention: 43800 * time.Hour, SegmentBytes: 64 << 20, LeaseTTL: 10 * time.Second, ArchiveInServe: true, MaxLag: 5 * time.Minute},
		},
	})
}

func TestLoadAuditErrors(t *testing.T) {
	runLoadErrors(t, []loadErrorCase{
		{"bad retention", "audit: {retention: forever}\n", nil, "config: audit.retention: must be a positive duration"},
		{"bad retention env", "", map[string]string{"OPTIN_AUDIT_RETENTION": "-1d"}, "config: OPTIN_AUDIT_RETENTION: must be a positive duration"},
		{"short lease", "audit: {lease_ttl: 1ms}\n", nil, "config: audit.lease_ttl: must be a duration of at least 100ms"},
		{"small segments", "audit: {segment_bytes: 10}\n", nil, "config: audit.segment_bytes: must be at least 4096"},
		{"bad bool", "", map[string]string{"OPTIN_AUDIT_ARCHIVE_IN_SERVE": "maybe"}, "config: OPTIN_AUDIT_ARCHIVE_IN_SERVE: must be true or false"},
		{"zero max lag", "audit: {max_lag: 0s}\n", nil, "config: audit.max_lag: must be a positive duration"},
		{"bad max lag env", "", map[string]string{"OPTIN_AUDIT_MAX_LAG": "soon"}, "config: OPTIN_AUDIT_MAX_LAG: must be a positive duration"},
		{"negative max lag env", "", map[string]string{"OPTIN_AUDIT_MAX_LAG": "-5m"}, "config: OPTIN_AUDIT_MAX_LAG: must be a positive duration"},
		{"unknown key", "audit: {retain: 5y}\n", nil, "retain"},
	})
}
