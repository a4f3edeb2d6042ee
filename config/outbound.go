package config

import (
	"fmt"
	"strconv"
	"time"
)

// Outbound configures replies sent through providers' APIs: numbers with
// reply_mode "api" and the senders that drain their queue.
type Outbound struct {
	// ReplyModes are "twiml" or "api" by business number (E.164); a
	// number not listed replies in TwiML.
	ReplyModes map[string]string
	// Rates are sending rates in messages per second by business number;
	// a number not listed gets the default for its kind.
	Rates map[string]float64
	// Sender runs the outbound senders in this process; default on when
	// any number replies through the API.
	Sender      bool
	MaxAttempts int           // sends per reply before it is dead-lettered; 0: the default
	BaseBackoff time.Duration // first retry's delay; 0: the default
	MaxBackoff  time.Duration // longest retry delay; 0: the default

	queuedProvider bool // a provider's webhook takes no replies in its answer
}

// fileOutbound is the outbound section of the YAML file.
type fileOutbound struct {
	Sender      *bool          `yaml:"sender"`
	MaxAttempts int            `yaml:"max_attempts"`
	BaseBackoff *time.Duration `yaml:"base_backoff"`
	MaxBackoff  *time.Duration `yaml:"max_backoff"`
}

// APINumbers returns how many numbers reply through the API.
func (o Outbound) APINumbers() int {
	n := 0
	for _, m := range o.ReplyModes {
		if m == "api" {
			n++
		}
	}
	return n
}

// loadOutbound fills c.Outbound from the file's outbound section, the
// numbers' reply_mode and rate_limit, and OPTIN_OUTBOUND_SENDER, and
// c.Providers from the providers' sections (loadProviders): the senders
// run by default when a number replies through the API or a provider
// takes no replies in its webhook's answer.
func (c *Config) loadOutbound(path string, f file, getenv func(string) string) error {
	o := Outbound{ReplyModes: map[string]string{}, Rates: map[string]float64{}, MaxAttempts: f.Outbound.MaxAttempts}
	for ti, t := range c.Tenants {
		for ni, n := range t.Numbers {
			np := fmt.Sprintf("tenants[%d].numbers[%d]", ti, ni)
			switch n.ReplyMode {
			case "", "twiml":
			case "api":
				o.ReplyModes[n.Number] = "api"
			default:
				return fmt.Errorf("config: %s.reply_mode: %q must be twiml or api", np, n.ReplyMode)
			}
			switch {
			case n.RateLimit < 0:
				return fmt.Errorf("config: %s.rate_limit: must not be negative", np)
			case n.RateLimit > 0:
				o.Rates[n.Number] = n.RateLimit
			}
		}
	}
	c.Outbound = o
	if err := c.loadProviders(path, f.Providers, getenv); err != nil {
		return err
	}
	o.queuedProvider = c.Outbound.queuedProvider
	o.Sender = o.APINumbers() > 0 || o.queuedProvider
	if f.Outbound.Sender != nil {
		o.Sender = *f.Outbound.Sender
	}
	if v := getenv("OPTIN_OUTBOUND_SENDER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: OPTIN_OUTBOUND_SENDER: must be true or false")
		}
		o.Sender = b
	}
	if o.MaxAttempts < 0 {
		return fmt.Errorf("config: outbound.max_attempts: must not be negative")
	}
	if err := setDurations(
		durationSetting{"outbound.base_backoff", f.Outbound.BaseBackoff, &o.BaseBackoff},
		durationSetting{"outbound.max_backoff", f.Outbound.MaxBackoff, &o.MaxBackoff},
	); err != nil {
		return err
	}
	c.Outbound = o
	return nil
}
