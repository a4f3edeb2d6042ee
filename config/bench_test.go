package config

import (
	"strings"
	"testing"
)

func TestLoadBenchRoutes(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    bool
		wantErr string
	}{
		{"unset: off", "", false, ""},
		{"true", "true", true, ""},
		{"1", "1", true, ""},
		{"false", "false", false, ""},
		{"junk", "yes please", false, "OPTIN_BENCH_ROUTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := requiredEnv()
			e["OPTIN_BENCH_ROUTES"] = tt.value
			c, err := Load("", env(e))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load with OPTIN_BENCH_ROUTES=%q: error %v; want one naming %s", tt.value, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.BenchRoutes != tt.want {
				t.Errorf("Load with OPTIN_BENCH_ROUTES=%q: BenchRoutes = %v; want %v", tt.value, c.BenchRoutes, tt.want)
			}
		})
	}
}
