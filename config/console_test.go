package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestLoadConsole(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		want       time.Duration
	}{
		{"default", "", nil, 30 * time.Minute},
		{"file", "console: {idle_timeout: 15m}\n", nil, 15 * time.Minute},
		{"environment over file", "console: {idle_timeout: 15m}\n", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "2h"}, 2 * time.Hour},
		{"lowest", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "1m"}, time.Minute},
		{"highest", "console: {idle_timeout: 8h}\n", nil, 8 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := requiredEnv()
			maps.Copy(e, tt.env)
			c, err := Load(writeFile(t, "c.yaml", base+tt.yaml), env(e))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Console.IdleTimeout != tt.want {
				t.Errorf("Console.IdleTimeout = %v; want %v", c.Console.IdleTimeout, tt.want)
			}
		})
	}
}

func TestLoadConsoleErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"too short in the file", "console: {idle_timeout: 30s}\n", nil, "config: console.idle_timeout: must be between 1m0s and 8h0m0s"},
		{"too long", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "9h"}, "config: OPTIN_CONSOLE_IDLE_TIMEOUT: must be between 1m0s and 8h0m0s"},
		{"zero", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "0s"}, "config: OPTIN_CONSOLE_IDLE_TIMEOUT: must be between"},
		{"not a duration", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "30"}, "config: OPTIN_CONSOLE_IDLE_TIMEOUT: must be a duration such as 30m"},
		{"unknown key", "console: {idle: 30m}\n", nil, "idle"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := requiredEnv()
			maps.Copy(e, tt.env)
			_, err := Load(writeFile(t, "c.yaml", base+tt.yaml), env(e))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
