package main

import (
	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
)

// httpTimeouts are the HTTP server's timeouts as configured.
func httpTimeouts(h config.HTTP) gateway.Timeouts {
	return gateway.Timeouts{
		ReadHeader: h.ReadHeaderTimeout,
		Read:       h.ReadTimeout,
		Body:       h.BodyTimeout,
		Write:      h.WriteTimeout,
		Idle:       h.IdleTimeout,
	}
}
