package config

import (
	"fmt"
	"time"
)

// Limits of the support console's idle timeout.
const (
	DefaultConsoleIdleTimeout = 30 * time.Minute
	MinConsoleIdleTimeout     = time.Minute
	MaxConsoleIdleTimeout     = 8 * time.Hour // every session ends 8 h after sign-in anyway
)

// Console configures the support console (README "Support console").
type Console struct {
	// IdleTimeout ends a session not used for that long
	// (OPTIN_CONSOLE_IDLE_TIMEOUT or console.idle_timeout; 1m..8h, default
	// 30m).
	IdleTimeout time.Duration
}

// consoleFile is the console section of the YAML file.
type consoleFile struct {
	IdleTimeout *time.Duration `yaml:"idle_timeout"`
}

// loadConsole applies OPTIN_CONSOLE_IDLE_TIMEOUT over f and validates the
// result.
func loadConsole(f consoleFile, getenv func(string) string) (Console, error) {
	c := Console{IdleTimeout: DefaultConsoleIdleTimeout}
	name := "console.idle_timeout"
	if f.IdleTimeout != nil {
		c.IdleTimeout = *f.IdleTimeout
	}
	if v := getenv("OPTIN_CONSOLE_IDLE_TIMEOUT"); v != "" {
		name = "OPTIN_CONSOLE_IDLE_TIMEOUT"
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("config: %s: must be a duration such as 30m", name)
		}
		c.IdleTimeout = d
	}
	if c.IdleTimeout < MinConsoleIdleTimeout || c.IdleTimeout > MaxConsoleIdleTimeout {
		return c, fmt.Errorf("config: %s: must be between %v and %v", name, MinConsoleIdleTimeout, MaxConsoleIdleTimeout)
	}
	return c, nil
}
