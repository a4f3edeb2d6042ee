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
	if o.TwilioAccountSid != "" {
		tw, err := outbound.NewTwilio(outbound.TwilioOptions{
			AccountSid: o.TwilioAccountSid, Username: o.TwilioAPIKey,
			Password: cmpOr(o.TwilioAPISecret, cfg.TwilioAuthToken),
		})
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		senders[tw.Name()] = tw
	}
	if o.TelnyxAPIKey != "" {
		tx, err := outbound.NewTelnyx(o.TelnyxAPIKey, "", nil)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		senders[tx.Name()] = tx
	}
	if o.VonageAPIKey != "" {
		vg, err := outbound.NewVonage(o.VonageAPIKey, o.VonageAPISecret, "", nil)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		senders[vg.Name()] = vg
	}
	if len(senders) == 0 {
		log.Warn("outbound senders not started: no provider credentials (twilio.account_sid, telnyx.api_key, vonage.api_key); queued replies wait")
		return func() {}, nil
	}
	names := make([]string, 0, len(senders))
	for n := range senders {
		names = append(names, n)
	}
	w, err := outbound.New(outbound.Options{
		Queue:          st,
		Senders:        senders,
		Numbers:        cfg.Numbers(),
		Rates:          o.Rates,
		StatusCallback: func(r optin.Reply) string { return gateway.StatusCallbackURL(cfg.PublicURL, r) },
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
		zap.Int("api_numbers", o.APINumbers()), zap.Strings("providers", names),
		zap.String("twilio_status_callback", cfg.PublicURL+"/v1/webhooks/twilio/status"))
	return wg.Wait, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// providers returns the inbound webhooks beside Twilio's that the
// configuration enables.
func providers(cfg *config.Config) ([]gateway.Provider, error) {
	var out []gateway.Provider
	if k := cfg.Outbound.TelnyxPublicKey; k != "" {
		p, err := gateway.NewTelnyx(k)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if u := cfg.Outbound.BandwidthCallbackUser; u != "" {
		p, err := gateway.NewBandwidth(u, cfg.Outbound.BandwidthCallbackPassword)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if s := cfg.Outbound.VonageSignatureSecret; s != "" {
		p, err := gateway.NewVonage(s, cfg.Outbound.VonageSignatureMethod)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
