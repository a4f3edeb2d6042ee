package main

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/store"
)

// replyModes returns the numbers' reply modes for the gateway.
func replyModes(cfg *config.Config) (map[string]gateway.ReplyMode, error) {
	out := map[string]gateway.ReplyMode{}
	for num, m := range cfg.Outbound.ReplyModes {
		mode, err := gateway.ParseReplyMode(m)
		if err != nil {
			return nil, fmt.Errorf("serve: number %s: %w", optin.Phone(num), err)
		}
		out[num] = mode
	}
	return out, nil
}

// startSenders runs the outbound senders when the configuration asks for
// them, until ctx is done; the returned function waits for them to stop.
func startSenders(ctx context.Context, cfg *config.Config, st *store.Store, metrics *gateway.Metrics, log *zap.Logger) (func(), error) {
	if !cfg.Outbound.Sender {
		return func() {}, nil
	}
	o := cfg.Outbound
	senders := map[string]outbound.Sender{}
	callbacks := map[string]bool{} // providers that take a status callback URL with each send
	for _, p := range cfg.Providers {
		wh, sd, err := p.Settings.Build(p.Env, nil)
		if err != nil {
			return nil, fmt.Errorf("serve: %s: %w", p.Name, err)
		}
		if sd == nil {
			continue
		}
		senders[sd.Name()] = sd
		_, callbacks[p.Name] = wh.(provider.StatusProvider)
	}
	if len(senders) == 0 {
		log.Warn("outbound senders not started: no provider's API credentials (twilio.account_sid, telnyx.api_key, vonage.api_key; docs/providers.md); queued replies wait")
		return func() {}, nil
	}
	names := make([]string, 0, len(senders))
	for n := range senders {
		names = append(names, n)
	}
	w, err := outbound.New(outbound.Options{
		Queue:   st,
		Senders: senders,
		Numbers: cfg.Numbers(),
		Rates:   o.Rates,
		StatusCallback: func(r optin.Reply) string {
			if !callbacks[r.Provider] {
				return ""
			}
			return gateway.StatusCallbackURL(cfg.PublicURL, r)
		},
		Tuning: lanes.Tuning{
			MaxAttempts: o.MaxAttempts, BaseBackoff: o.BaseBackoff, MaxBackoff: o.MaxBackoff,
			Logger: log.Named("outbound"),
		},
		OnDeadLetter: metrics.ObserveReplyFailure,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			log.Error("outbound senders stopped", zap.Error(err))
		}
	})
	log.Info("outbound senders running", zap.String("owner", w.Owner()),
		zap.Int("api_numbers", o.APINumbers()), zap.Strings("providers", names))
	return wg.Wait, nil
}

// providers returns the inbound webhooks of the providers the
// configuration enables.
func providers(cfg *config.Config) ([]provider.Provider, error) {
	var out []provider.Provider
	for _, p := range cfg.Providers {
		wh, _, err := p.Settings.Build(p.Env, nil)
		if err != nil {
			return nil, fmt.Errorf("serve: %s: %w", p.Name, err)
		}
		if wh != nil {
			out = append(out, wh)
		}
	}
	return out, nil
}
