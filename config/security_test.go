package config

import (
	"strings"
	"testing"
)

func TestLoadSecurity(t *testing.T) {
	five := 5
	tests := []struct {
		name    string
		file    securityFile
		env     map[string]string
		want    Security
		wantErr string
	}{
		{"defaults", securityFile{}, nil, Security{SignatureFailuresPerMinute: 50, RevealsPerHour: 100, ErasuresPerHour: 20}, ""},
		{"env", securityFile{}, map[string]string{
			"OPTIN_SECURITY_ALERT_URL": "https://ops.example.com/alerts", "OPTIN_SECURITY_ALERT_SECRET": "whsec_x",
			"OPTIN_ALERT_SIGNATURE_FAILURES_PER_MINUTE": "5", "OPTIN_ALERT_REVEALS_PER_HOUR": "7", "OPTIN_ALERT_ERASURES_PER_HOUR": "9",
		}, Security{AlertURL: "https://ops.example.com/alerts", AlertSecret: "whsec_x", SignatureFailuresPerMinute: 5, RevealsPerHour: 7, ErasuresPerHour: 9}, ""},
		{"file", securityFile{RevealsPerHour: &five}, nil, Security{SignatureFailuresPerMinute: 50, RevealsPerHour: 5, ErasuresPerHour: 20}, ""},
		{"env over file", securityFile{RevealsPerHour: &five}, map[string]string{"OPTIN_ALERT_REVEALS_PER_HOUR": "8"},
			Security{SignatureFailuresPerMinute: 50, RevealsPerHour: 8, ErasuresPerHour: 20}, ""},
		{"bad url", securityFile{}, map[string]string{"OPTIN_SECURITY_ALERT_URL": "ftp://x", "OPTIN_SECURITY_ALERT_SECRET": "s"}, Security{}, "OPTIN_SECURITY_ALERT_URL"},
		{"url without secret", securityFile{}, map[string]string{"OPTIN_SECURITY_ALERT_URL": "https://ops.example.com/a"}, Security{}, "security.alert_secret"},
		{"zero", securityFile{}, map[string]string{"OPTIN_ALERT_REVEALS_PER_HOUR": "0"}, Security{}, "OPTIN_ALERT_REVEALS_PER_HOUR"},
		{"zero in the file", securityFile{RevealsPerHour: new(int)}, nil, Security{}, "security.reveals_per_hour"},
		{"not a number", securityFile{}, map[string]string{"OPTIN_ALERT_ERASURES_PER_HOUR": "many"}, Security{}, "OPTIN_ALERT_ERASURES_PER_HOUR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadSecurity(tt.file, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("loadSecurity = %v; want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("loadSecurity = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
