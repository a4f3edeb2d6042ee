package config

import (
	"testing"
	"time"
)

func TestLoadConsole(t *testing.T) {
	runLoads(t, "Console.IdleTimeout", func(c *Config) time.Duration { return c.Console.IdleTimeout }, same[time.Duration], []loadCase[time.Duration]{
		{"default", "", nil, 30 * time.Minute},
		{"file", "console: {idle_timeout: 15m}\n", nil, 15 * time.Minute},
		{"environment over file", "console: {idle_timeout: 15m}\n", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "2h"}, 2 * time.Hour},
		{"lowest", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "1m"}, time.Minute},
		{"highest", "console: {idle_timeout: 8h}\n", nil, 8 * time.Hour},
	})
}

func TestLoadConsoleErrors(t *testing.T) {
	runLoadErrors(t, []loadErrorCase{
		{"too short in the file", "console: {idle_timeout: 30s}\n", nil, "config: console.idle_timeout: must be between 1m0s and 8h0m0s"},
		{"too long", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "9h"}, "config: OPTIN_CONSOLE_IDLE_TIMEOUT: must be between 1m0s and 8h0m0s"},
		{"zero", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "0s"}, "config: OPTIN_CONSOLE_IDLE_TIMEOUT: must be between"},
		{"not a duration", "", map[string]string{"OPTIN_CONSOLE_IDLE_TIMEOUT": "30"}, "config: OPTIN_CONSOLE_IDLE_TIMEOUT: must be a duration such as 30m"},
		{"unknown key", "console: {idle: 30m}\n", nil, "idle"},
	})
}
