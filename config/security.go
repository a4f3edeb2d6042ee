package config

import (
	"fmt"
	"net/url"
	"strconv"
)

// Defaults of the anomaly rules (docs/incident-response.md).
const (
	DefaultSignatureFailuresPerMinute = 50
	DefaultRevealsPerHour             = 100
	DefaultErasuresPerHour            = 20
)

// Security configures the security events' anomaly rules and where their
// alerts go besides the log and the metrics.
type Security struct {
	// AlertURL receives each alert as a signed JSON POST
	// (OPTIN_SECURITY_ALERT_URL or security.alert_url); empty: none.
	AlertURL string
	// AlertSecret signs the alert POSTs as the event webhooks are signed
	// (OPTIN_SECURITY_ALERT_SECRET[_FILE] or security.alert_secret).
	AlertSecret string
	// SignatureFailuresPerMinute: more provider signature failures than
	// this in a minute raise an alert (OPTIN_ALERT_SIGNATURE_FAILURES_PER_MINUTE).
	SignatureFailuresPerMinute int
	// RevealsPerHour: one token revealing or exporting more subscribers
	// than this in an hour raises an alert (OPTIN_ALERT_REVEALS_PER_HOUR).
	RevealsPerHour int
	// ErasuresPerHour: more erasures than this in an hour in one tenant
	// raise an alert (OPTIN_ALERT_ERASURES_PER_HOUR).
	ErasuresPerHour int
}

// securityFile is the security section of the YAML file.
type securityFile struct {
	AlertURL                   string `yaml:"alert_url"`
	AlertSecret                string `yaml:"alert_secret"`
	SignatureFailuresPerMinute *int   `yaml:"signature_failures_per_minute"`
	RevealsPerHour             *int   `yaml:"reveals_per_hour"`
	ErasuresPerHour            *int   `yaml:"erasures_per_hour"`
}

// loadSecurity applies OPTIN_SECURITY_ALERT_URL,
// OPTIN_SECURITY_ALERT_SECRET (or _FILE) and the OPTIN_ALERT_* limits over f
// and validates the result.
func loadSecurity(f securityFile, getenv func(string) string) (Security, error) {
	alertURL := setting{"security.alert_url", f.AlertURL}
	alertURL.set(getenv, "OPTIN_SECURITY_ALERT_URL")
	secret := setting{"security.alert_secret", f.AlertSecret}
	if err := secret.setSecret(getenv, "OPTIN_SECURITY_ALERT_SECRET"); err != nil {
		return Security{}, err
	}
	s := Security{AlertURL: alertURL.value, AlertSecret: secret.value}
	if s.AlertURL != "" {
		u, err := url.Parse(s.AlertURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Security{}, fmt.Errorf("config: %s: must be an http or https URL", alertURL.name)
		}
		if s.AlertSecret == "" {
			return Security{}, fmt.Errorf("config: %s: required when %s is set", secret.name, alertURL.name)
		}
	}
	limits := []struct {
		dst  *int
		file *int
		yaml string
		env  string
		def  int
	}{
		{&s.SignatureFailuresPerMinute, f.SignatureFailuresPerMinute, "security.signature_failures_per_minute", "OPTIN_ALERT_SIGNATURE_FAILURES_PER_MINUTE", DefaultSignatureFailuresPerMinute},
		{&s.RevealsPerHour, f.RevealsPerHour, "security.reveals_per_hour", "OPTIN_ALERT_REVEALS_PER_HOUR", DefaultRevealsPerHour},
		{&s.ErasuresPerHour, f.ErasuresPerHour, "security.erasures_per_hour", "OPTIN_ALERT_ERASURES_PER_HOUR", DefaultErasuresPerHour},
	}
	for _, l := range limits {
		*l.dst = l.def
		name := l.yaml
		if l.file != nil {
			*l.dst = *l.file
		}
		if v := getenv(l.env); v != "" {
			name = l.env
			n, err := strconv.Atoi(v)
			if err != nil {
				return Security{}, fmt.Errorf("config: %s: must be a whole number", name)
			}
			*l.dst = n
		}
		if *l.dst < 1 {
			return Security{}, fmt.Errorf("config: %s: must be at least 1", name)
		}
	}
	return s, nil
}
