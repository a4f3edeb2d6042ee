package config

import (
	"fmt"
	"time"
)

// Events configures the delivery of event webhooks to the businesses
// (README "Event webhooks").
type Events struct {
	// Delivery runs the delivery workers in this process (default true;
	// OPTIN_EVENTS_DELIVERY).
	Delivery    bool
	MaxAttempts int           // tries before a delivery is dead-lettered; 0: the default
	BaseBackoff time.Duration // delay after the first failed try; 0: the default
	MaxBackoff  time.Duration // longest delay; 0: the default
	Timeout     time.Duration // per try; 0: the default
}

// eventsFile is the events section of the YAML file.
type eventsFile struct {
	Delivery    *bool          `yaml:"delivery"`
	MaxAttempts *int           `yaml:"max_attempts"`
	BaseBackoff *time.Duration `yaml:"base_backoff"`
	MaxBackoff  *time.Duration `yaml:"max_backoff"`
	Timeout     *time.Duration `yaml:"timeout"`
}

// loadEvents applies OPTIN_EVENTS_DELIVERY over f and validates the result.
func loadEvents(f eventsFile, getenv func(string) string) (Events, error) {
	e := Events{Delivery: true}
	if err := loadBool(getenv, "events.delivery", f.Delivery, "OPTIN_EVENTS_DELIVERY", &e.Delivery); err != nil {
		return e, err
	}
	if f.MaxAttempts != nil {
		if *f.MaxAttempts < 1 {
			return e, fmt.Errorf("config: events.max_attempts: must be at least 1")
		}
		e.MaxAttempts = *f.MaxAttempts
	}
	if err := setDurations(
		durationSetting{"events.base_backoff", f.BaseBackoff, &e.BaseBackoff},
		durationSetting{"events.max_backoff", f.MaxBackoff, &e.MaxBackoff},
		durationSetting{"events.timeout", f.Timeout, &e.Timeout},
	); err != nil {
		return e, err
	}
	return e, nil
}
