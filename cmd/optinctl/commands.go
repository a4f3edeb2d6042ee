package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// get runs `get tenants|campaigns|numbers [ID]`.
func (c *cli) get(ctx context.Context, kind string, a []string) error {
	cmd := "get " + kind
	if err := args(cmd, a, 0, 1, ""); err != nil {
		return err
	}
	var path string
	switch kind {
	case "tenants":
		path = "/v1/tenants"
		if len(a) == 1 {
			path = tenantPath(a[0])
		}
		return getTable(ctx, c, path, len(a) == 1, tenantRows)
	case "campaigns", "numbers":
		t, err := c.needTenant(cmd)
		if err != nil {
			return err
		}
		if kind == "campaigns" {
			path = tenantPath(t) + "/campaigns"
			if len(a) == 1 {
				path = campaignPath(t, a[0])
			}
			return getTable(ctx, c, path, len(a) == 1, campaignRows)
		}
		path = tenantPath(t) + "/numbers"
		if len(a) == 1 {
			n, err := phone.ParseBusiness(a[0])
			if err != nil {
				return usagef("%s: %q: %v", cmd, a[0], err)
			}
			path = numberPath(t, n.E164())
		}
		return getTable(ctx, c, path, len(a) == 1, numberRows)
	}
	return nil // unreachable: flagsOf lists the kinds
}

// getTable GETs a collection (or, when one, a single object) of T and
// prints it with rows, or the server's JSON with -o json.
func getTable[T any](ctx context.Context, c *cli, path string, one bool, rows func([]T) [][]string) error {
	var items []T
	var b []byte
	var err error
	if one {
		var v T
		b, err = c.api.getJSON(ctx, path, &v)
		items = []T{v}
	} else {
		var l list[T]
		b, err = c.api.getJSON(ctx, path, &l)
		items = l.Items
	}
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.writeJSON(b)
	}
	return c.table(rows(items))
}

func tenantRows(ts []optin.TenantDoc) [][]string {
	rows := [][]string{{"ID", "NAME", "REVOCATION_SCOPE", "VERSION", "UPDATED_AT", "UPDATED_BY"}}
	for _, t := range ts {
		rows = append(rows, []string{t.ID, t.Name, t.RevocationScope, strconv.Itoa(t.Version), stamp(t.UpdatedAt), t.UpdatedBy})
	}
	return rows
}

func campaignRows(cs []optin.CampaignDoc) [][]string {
	rows := [][]string{{"ID", "NAME", "KEYWORDS", "CODE_TTL", "VERSION", "UPDATED_AT", "UPDATED_BY"}}
	for _, x := range cs {
		rows = append(rows, []string{x.ID, x.Name, strings.Join(x.Keywords, ","), x.CodeTTL.String(), strconv.Itoa(x.Version), stamp(x.UpdatedAt), x.UpdatedBy})
	}
	return rows
}

// stamp writes a document's updated_at as the server sent it; "" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// numberRows shows business numbers whole: they are the business's public
// numbers and the ids the other commands take.
func numberRows(ns []optin.NumberDoc) [][]string {
	rows := [][]string{{"NUMBER", "CAMPAIGNS", "REPLY_MODE", "KEYWORD_PACKS", "VERSION", "UPDATED_AT", "UPDATED_BY"}}
	for _, n := range ns {
		rows = append(rows, []string{n.Number, strings.Join(n.Campaigns, ","), n.ReplyMode, strings.Join(n.KeywordPacks, ","), strconv.Itoa(n.Version), stamp(n.UpdatedAt), n.UpdatedBy})
	}
	return rows
}

// lookupView is the server's view of one subscriber.
type lookupView struct {
	Tenant      string `json:"tenant"`
	Subscriber  string `json:"subscriber"`
	PhoneMasked string `json:"phone_masked"`
	Version     int64  `json:"version"`
	Campaigns   []struct {
		Campaign  string  `json:"campaign"`
		State     string  `json:"state"`
		ChangedAt *string `json:"changed_at"`
	} `json:"campaigns"`
}

// event is one consent event of a subscriber's history.
type event struct {
	At       string      `json:"at"`
	Number   string      `json:"number"`
	Campaign string      `json:"campaign"`
	From     string      `json:"from"`
	To       string      `json:"to"`
	Reason   string      `json:"reason"`
	Cause    optin.Cause `json:"cause"`
}

// causeText says in a table cell what caused an event: the provider and
// message, the channel of a change by hand and its actor, or a provider's
// signal.
func causeText(c optin.Cause) string {
	var parts []string
	for _, p := range []string{c.Provider, c.MessageID, c.Channel, c.Actor, c.Signal} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// subscriber runs `subscriber show|history|export|opt-out|erase PHONE`.
func (c *cli) subscriber(ctx context.Context, verb string, a []string) error {
	cmd := "subscriber " + verb
	if err := args(cmd, a, 1, 1, "PHONE (E.164, e.g. +12025550100)"); err != nil {
		return err
	}
	p, err := phone.Parse(a[0])
	if err != nil {
		return usagef("%s: %q: %v", cmd, a[0], err)
	}
	t, err := c.needTenant(cmd)
	if err != nil {
		return err
	}
	path := subscriberPath(t, p.E164())
	reason := []string{"X-Optin-Reason", c.reason}
	var b []byte
	switch verb {
	case "show":
		b, err = c.api.Do(ctx, http.MethodGet, path, nil, reason...)
	case "history":
		b, err = c.api.Do(ctx, http.MethodGet, path+"/history", nil, reason...)
	case "export":
		if b, err = c.api.Do(ctx, http.MethodGet, path+"/export", nil, reason...); err != nil {
			return err
		}
		return c.writeJSON(b) // one document, whatever -o says
	case "opt-out":
		if strings.TrimSpace(c.reason) == "" {
			return usagef("%s: --reason is required: say why (it goes in the access log)", cmd)
		}
		body := struct {
			Campaign string `json:"campaign,omitempty"`
			Reason   string `json:"reason"`
		}{c.campaign, c.reason}
		b, err = c.api.Do(ctx, http.MethodPost, path+"/opt-out", body, reason...)
	case "erase":
		if !c.yes {
			return usagef("%s: erasing %s's data cannot be undone; add --yes to confirm", cmd, p)
		}
		if b, err = c.api.Do(ctx, http.MethodDelete, path, nil, reason...); err != nil {
			return err
		}
		if c.output == "json" {
			return c.writeJSON(b)
		}
		fmt.Fprintf(c.stdout, "erased subscriber %s of tenant %s\n", c.phone(p, ""), t)
		return nil
	}
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.writeJSON(b)
	}
	if verb == "history" {
		var l list[event]
		if err := decode(cmd, b, &l); err != nil {
			return err
		}
		rows := [][]string{{"AT", "CAMPAIGN", "FROM", "TO", "REASON", "CAUSE", "NUMBER"}}
		for _, e := range l.Items {
			rows = append(rows, []string{e.At, e.Campaign, e.From, e.To, e.Reason, causeText(e.Cause), e.Number})
		}
		return c.table(rows)
	}
	var v lookupView
	if err := decode(cmd, b, &v); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "tenant:     %s\nphone:      %s\nsubscriber: %s\nversion:    %d\n\n", v.Tenant, c.phone(p, v.PhoneMasked), v.Subscriber, v.Version)
	rows := [][]string{{"CAMPAIGN", "STATE", "CHANGED_AT"}}
	for _, x := range v.Campaigns {
		at := "-"
		if x.ChangedAt != nil {
			at = *x.ChangedAt
		}
		rows = append(rows, []string{x.Campaign, x.State, at})
	}
	return c.table(rows)
}

// phone returns p for a table: masked (as the server masked it, when it
// did) unless --reveal.
func (c *cli) phone(p optin.Phone, masked string) string {
	switch {
	case c.reveal:
		return p.E164()
	case masked != "":
		return masked
	}
	return p.String()
}

// tokens runs `tokens create|list|revoke`.
func (c *cli) tokens(ctx context.Context, verb string, a []string) error {
	cmd := "tokens " + verb
	t, err := c.needTenant(cmd)
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		if err := args(cmd, a, 0, 0, ""); err != nil {
			return err
		}
		switch c.role {
		case "admin", "support", "auditor", "sender", "metrics":
		case "":
			return usagef("%s: --role is required: admin, support, auditor, sender or metrics", cmd)
		default:
			return usagef("%s: --role %q: must be admin, support, auditor, sender or metrics", cmd, c.role)
		}
		body := map[string]string{"role": c.role, "name": c.name}
		b, err := c.api.Do(ctx, http.MethodPost, tokenPath(t), body)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stderr, "optinctl: the token is shown only this once; store it now")
		if c.output == "json" {
			return c.writeJSON(b)
		}
		var k Token
		if err := decode(cmd, b, &k); err != nil {
			return err
		}
		return c.table([][]string{{"id:", k.ID}, {"token:", k.Secret}, {"tenant:", k.Tenant}, {"role:", k.Role}, {"name:", k.Name}, {"created_at:", k.CreatedAt}})
	case "list":
		if err := args(cmd, a, 0, 0, ""); err != nil {
			return err
		}
		return getTable(ctx, c, tokenPath(t), false, func(ks []Token) [][]string {
			rows := [][]string{{"ID", "ROLE", "NAME", "CREATED_AT"}}
			for _, k := range ks {
				rows = append(rows, []string{k.ID, k.Role, k.Name, k.CreatedAt})
			}
			return rows
		})
	default: // revoke
		if err := args(cmd, a, 1, 1, "token ID (tok_…)"); err != nil {
			return err
		}
		if _, err := c.api.Do(ctx, http.MethodDelete, tokenPath(t)+"/"+seg(a[0]), nil); err != nil {
			return err
		}
		if c.output == "json" {
			return c.encodeJSON(map[string]any{"id": a[0], "revoked": true})
		}
		fmt.Fprintf(c.stdout, "revoked token %s\n", a[0])
		return nil
	}
}

// table prints rows aligned in columns; an empty cell shows as "-".
func (c *cli) table(rows [][]string) error {
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		for i, cell := range r {
			if cell == "" {
				cell = "-"
			}
			if i > 0 {
				fmt.Fprint(w, "\t")
			}
			fmt.Fprint(w, strings.ReplaceAll(cell, "\t", " "))
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}

// writeJSON passes the server's JSON through, ending it with a newline.
func (c *cli) writeJSON(b []byte) error {
	b = bytes.TrimRight(b, "\n")
	_, err := fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// encodeJSON prints v as indented JSON: optinctl's own documents.
func (c *cli) encodeJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
