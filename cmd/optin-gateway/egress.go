package main

import (
	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/internal/egress"
)

// egressPolicy is what event webhooks may reach, for both the admin API
// (at configuration time) and the delivery workers (at dial time):
// public addresses and the operator's OPTIN_EGRESS_ALLOW_CIDRS.
func egressPolicy(cfg *config.Config) *egress.Policy {
	return &egress.Policy{Allow: cfg.Egress.AllowCIDRs}
}
