package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// fileError is a campaigns file that cannot be applied: exit code 5.
type fileError struct{ name, path, msg string }

func (e *fileError) Error() string {
	if e.path == "" {
		return e.name + ": " + e.msg
	}
	return fmt.Sprintf("%s: %s: %s", e.name, e.path, e.msg)
}

// campaignsFile is a campaigns file: the tenants: list of a gateway's
// config file, with its campaigns and numbers. Other top-level keys (those
// of the gateway's own config file) are left alone, so that
// config/example.yaml applies as it is; inside tenants an unknown key is
// an error.
type campaignsFile struct {
	Tenants []optin.TenantConfig `yaml:"tenants"`
	Rest    map[string]yaml.Node `yaml:",inline"`
}

// readCampaignsFile decodes and checks a campaigns file: the tenants: list
// of config/example.yaml, unknown keys refused. Business numbers are
// normalised to E.164.
func readCampaignsFile(name string, r io.Reader) ([]optin.TenantConfig, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, usagef("%s: %v", name, err)
	}
	var f campaignsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, &fileError{name: name, msg: strings.Join(te.Errors, "; ")}
		}
		return nil, &fileError{name: name, msg: err.Error()}
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, &fileError{name: name, msg: "more than one YAML document"}
	}
	if len(f.Tenants) == 0 {
		return nil, &fileError{name: name, path: "tenants", msg: "required: list at least one tenant"}
	}
	seen := map[string]string{} // tenant id, campaign key or number → where first listed
	once := func(key, path string) error {
		if first, dup := seen[key]; dup {
			return &fileError{name, path, "already listed at " + first}
		}
		seen[key] = path
		return nil
	}
	checkID := func(path, id string) error {
		if !optin.ValidID(id) {
			return &fileError{name, path, fmt.Sprintf("%q %s", id, optin.IDRule)}
		}
		return nil
	}
	for ti := range f.Tenants {
		t := &f.Tenants[ti]
		tp := fmt.Sprintf("tenants[%d]", ti)
		if err := checkID(tp+".id", t.ID); err != nil {
			return nil, err
		}
		if err := once("tenant "+t.ID, tp+".id"); err != nil {
			return nil, err
		}
		for ci, c := range t.Campaigns {
			cp := fmt.Sprintf("%s.campaigns[%d].id", tp, ci)
			if err := checkID(cp, c.ID); err != nil {
				return nil, err
			}
			if err := once("campaign "+t.ID+"/"+c.ID, cp); err != nil {
				return nil, err
			}
		}
		for ni := range t.Numbers {
			n := &t.Numbers[ni]
			np := fmt.Sprintf("%s.numbers[%d]", tp, ni)
			p, err := phone.ParseBusiness(n.Number)
			if err != nil {
				return nil, &fileError{name, np + ".number", fmt.Sprintf("%q: %v; write it in E.164, e.g. \"+12025550100\", or as a short code", n.Number, err)}
			}
			n.Number = p.E164()
			if err := once("number "+n.Number, np+".number"); err != nil {
				return nil, err
			}
			for i, id := range n.Campaigns {
				if !slices.ContainsFunc(t.Campaigns, func(c optin.CampaignDoc) bool { return c.ID == id }) {
					return nil, &fileError{name, fmt.Sprintf("%s.campaigns[%d]", np, i), fmt.Sprintf("tenant %s lists no campaign %q in this file", t.ID, id)}
				}
			}
		}
	}
	return f.Tenants, nil
}

// Actions of a planned change.
const (
	actCreate    = "create"
	actUpdate    = "update"
	actDelete    = "delete"
	actUnchanged = "unchanged"
	actExtra     = "not_in_file" // on the server, not in the file, no --prune
)

// change is one object apply creates, updates, deletes or leaves alone.
type change struct {
	Kind    string        `json:"kind"` // tenant, campaign or number
	Tenant  string        `json:"tenant"`
	ID      string        `json:"id"`
	Action  string        `json:"action"`
	Changes []fieldChange `json:"changes,omitempty"`
	// Version is the server's version of an object to update: the PUT
	// carries it, so that a change made meanwhile gives 409.
	Version int    `json:"-"`
	path    string // the object's path
	body    any    // what to PUT
}

// fieldChange is one field of an object: from is nil for a creation.
type fieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// dryRun is the admin API's answer to a PUT with ?dry_run=true.
type dryRun struct {
	Action  string        `json:"action"`
	Changes []fieldChange `json:"changes"`
}

// current is what the server holds of one tenant; Tenant is nil when it
// does not exist.
type current struct {
	Tenant    *optin.TenantDoc
	Campaigns []optin.CampaignDoc
	Numbers   []optin.NumberDoc
}

// plan asks the server what each of the file's objects would change (the
// admin API's dry run, which applies the server's own defaults and
// checks) and returns the changes in the order they are safe to make: per
// tenant, the tenant, its campaigns, its numbers, then deletions of
// numbers before campaigns (a number may still use a campaign until it is
// updated or deleted). Only with prune are objects missing from the file
// deleted; those of tenants the file does not list are never touched.
//
// The server cannot plan what needs an object this apply creates first:
// the campaigns and numbers of a new tenant are creations of the fields
// the file gives, and a number that adds a new campaign is planned with
// its other campaigns, its campaigns field then set to the file's.
func (c *cli) plan(ctx context.Context, want []optin.TenantConfig, have map[string]current, prune bool) ([]change, error) {
	var out []change
	add := func(ch change, err error) error {
		out = append(out, ch)
		return err
	}
	for _, t := range want {
		h := have[t.ID]
		tv := 0
		if h.Tenant != nil {
			tv = h.Tenant.Version
		}
		if err := add(c.askPlan(ctx, change{Kind: "tenant", Tenant: t.ID, ID: t.ID, path: tenantPath(t.ID), body: t.TenantDoc, Version: tv})); err != nil {
			return nil, err
		}
		creating := map[string]bool{}
		for _, cp := range t.Campaigns {
			ch := change{Kind: "campaign", Tenant: t.ID, ID: cp.ID, path: campaignPath(t.ID, cp.ID), body: cp}
			hc := find(h.Campaigns, func(x optin.CampaignDoc) bool { return x.ID == cp.ID })
			if hc == nil {
				creating[cp.ID] = true
			} else {
				ch.Version = hc.Version
			}
			if h.Tenant == nil {
				out = append(out, created(ch))
				continue
			}
			if err := add(c.askPlan(ctx, ch)); err != nil {
				return nil, err
			}
		}
		for _, n := range t.Numbers {
			ch := change{Kind: "number", Tenant: t.ID, ID: n.Number, path: numberPath(t.ID, n.Number), body: n}
			hn := find(h.Numbers, func(x optin.NumberDoc) bool { return x.Number == n.Number })
			if hn != nil {
				ch.Version = hn.Version
			}
			if h.Tenant == nil {
				out = append(out, created(ch))
				continue
			}
			probe := n
			probe.Campaigns = slices.DeleteFunc(slices.Clone(n.Campaigns), func(id string) bool { return creating[id] })
			if len(probe.Campaigns) == len(n.Campaigns) {
				if err := add(c.askPlan(ctx, ch)); err != nil {
					return nil, err
				}
				continue
			}
			if len(probe.Campaigns) == 0 {
				if hn == nil {
					out = append(out, created(ch))
					continue
				}
				probe.Campaigns = hn.Campaigns
			}
			pc := ch
			pc.body = probe
			pc, err := c.askPlan(ctx, pc)
			if err != nil {
				return nil, add(pc, err)
			}
			ch.Action, ch.Changes = actUpdate, slices.DeleteFunc(pc.Changes, func(f fieldChange) bool { return f.Field == "campaigns" })
			var from any
			if hn == nil {
				ch.Action = actCreate
			} else {
				from = hn.Campaigns
			}
			ch.Changes = append(ch.Changes, fieldChange{Field: "campaigns", From: from, To: n.Campaigns})
			out = append(out, ch)
		}
		gone := actExtra
		if prune {
			gone = actDelete
		}
		for _, n := range h.Numbers {
			if !slices.ContainsFunc(t.Numbers, func(x optin.NumberDoc) bool { return x.Number == n.Number }) {
				out = append(out, change{Kind: "number", Tenant: t.ID, ID: n.Number, Action: gone, Version: n.Version, path: numberPath(t.ID, n.Number)})
			}
		}
		for _, cp := range h.Campaigns {
			if !slices.ContainsFunc(t.Campaigns, func(x optin.CampaignDoc) bool { return x.ID == cp.ID }) {
				out = append(out, change{Kind: "campaign", Tenant: t.ID, ID: cp.ID, Action: gone, Version: cp.Version, path: campaignPath(t.ID, cp.ID)})
			}
		}
	}
	return out, nil
}

func find[T any](s []T, f func(T) bool) *T {
	if i := slices.IndexFunc(s, f); i >= 0 {
		return &s[i]
	}
	return nil
}

// askPlan asks the server what PUTting ch's body would do.
func (c *cli) askPlan(ctx context.Context, ch change) (change, error) {
	b, err := c.api.Do(ctx, http.MethodPut, ch.path+"?dry_run=true", putBody(ch.body, ch.Version))
	if err != nil {
		return ch, fmt.Errorf("apply: plan %s: %w", ch.object(), err)
	}
	var d dryRun
	if err := decode(ch.path, b, &d); err != nil {
		return ch, err
	}
	ch.Action, ch.Changes = d.Action, d.Changes
	return ch, nil
}

// created is ch as a creation the server cannot plan yet: the fields the
// file gives.
func created(ch change) change {
	ch.Action = actCreate
	v := reflect.ValueOf(ch.body)
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.Anonymous || name == "-" || f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0) {
			continue
		}
		ch.Changes = append(ch.Changes, fieldChange{Field: name, To: f.Interface()})
	}
	return ch
}

// putBody is doc as the admin API takes it: its JSON without the server's
// metadata, with the version it was read at (0: none, a creation).
func putBody(doc any, version int) map[string]any {
	b, err := json.Marshal(doc)
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		panic(err) // optin's documents always encode
	}
	delete(m, "updated_at")
	delete(m, "updated_by")
	delete(m, "version")
	if version > 0 {
		m["version"] = version
	}
	return m
}

// fetch GETs what the server holds of each of the file's tenants.
func (c *cli) fetch(ctx context.Context, tenants []optin.TenantConfig) (map[string]current, error) {
	have := map[string]current{}
	for _, t := range tenants {
		var cur current
		var tn optin.TenantDoc
		_, err := c.api.getJSON(ctx, tenantPath(t.ID), &tn)
		switch {
		case isNotFound(err):
			have[t.ID] = cur
			continue
		case err != nil:
			return nil, fmt.Errorf("get tenant %s: %w", t.ID, err)
		}
		cur.Tenant = &tn
		var cl list[optin.CampaignDoc]
		if _, err := c.api.getJSON(ctx, tenantPath(t.ID)+"/campaigns", &cl); err != nil {
			return nil, fmt.Errorf("get campaigns of %s: %w", t.ID, err)
		}
		var nl list[optin.NumberDoc]
		if _, err := c.api.getJSON(ctx, tenantPath(t.ID)+"/numbers", &nl); err != nil {
			return nil, fmt.Errorf("get numbers of %s: %w", t.ID, err)
		}
		cur.Campaigns, cur.Numbers = cl.Items, nl.Items
		have[t.ID] = cur
	}
	return have, nil
}

// applyReport is apply's -o json document.
type applyReport struct {
	DryRun  bool           `json:"dry_run"`
	Summary map[string]int `json:"summary"`
	Changes []change       `json:"changes"`
	Applied int            `json:"applied"` // changes made (all of them unless an error stopped apply)
	Error   string         `json:"error,omitempty"`
}

// apply runs `apply -f FILE [--prune] [--dry-run]`.
func (c *cli) apply(ctx context.Context, a []string) error {
	if err := args("apply", a, 0, 0, ""); err != nil {
		return err
	}
	if c.file == "" {
		return usageError("apply: -f FILE is required (- for stdin)")
	}
	var r io.Reader = c.stdin
	name := "stdin"
	if c.file != "-" {
		f, err := os.Open(c.file)
		if err != nil {
			return usagef("apply: %v", err)
		}
		defer f.Close()
		r, name = f, c.file
	}
	want, err := readCampaignsFile(name, r)
	if err != nil {
		return err
	}
	have, err := c.fetch(ctx, want)
	if err != nil {
		return err
	}
	changes, err := c.plan(ctx, want, have, c.prune)
	if err != nil {
		return err
	}
	rep := applyReport{DryRun: c.dryRun, Summary: map[string]int{}, Changes: changes}
	todo := 0
	for _, ch := range changes {
		rep.Summary[ch.Action]++
		if ch.Action == actCreate || ch.Action == actUpdate || ch.Action == actDelete {
			todo++
		}
	}
	if c.output == "table" {
		printPlan(c.stdout, changes)
		fmt.Fprintf(c.stdout, "%d to create, %d to update, %d to delete, %d unchanged\n",
			rep.Summary[actCreate], rep.Summary[actUpdate], rep.Summary[actDelete], rep.Summary[actUnchanged])
	}
	if c.dryRun || todo == 0 {
		if c.output == "json" {
			if err := c.encodeJSON(rep); err != nil {
				return err
			}
		}
		if c.dryRun && todo > 0 {
			return errDrift
		}
		return nil
	}
	for _, ch := range changes {
		if err = c.make(ctx, ch); err != nil {
			err = fmt.Errorf("apply: %s %s: %w", ch.Action, ch.object(), err)
			break
		}
		if ch.Action == actCreate || ch.Action == actUpdate || ch.Action == actDelete {
			rep.Applied++
			if c.output == "table" {
				fmt.Fprintf(c.stdout, "%sd %s\n", ch.Action, ch.object())
			}
		}
	}
	if c.output == "json" {
		if err != nil {
			rep.Error = err.Error()
		}
		if jerr := c.encodeJSON(rep); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

// make sends one change to the server.
func (c *cli) make(ctx context.Context, ch change) error {
	var err error
	switch ch.Action {
	case actDelete:
		_, err = c.api.Do(ctx, http.MethodDelete, ch.path, nil)
	case actCreate, actUpdate:
		_, err = c.api.Do(ctx, http.MethodPut, ch.path, putBody(ch.body, ch.Version))
	}
	return err
}

// object names the change's object: "tenant demo", "campaign demo/deals".
func (ch change) object() string {
	if ch.Kind == "tenant" {
		return "tenant " + ch.ID
	}
	return fmt.Sprintf("%s %s/%s", ch.Kind, ch.Tenant, ch.ID)
}

// printPlan writes the diff: one line per object to change, then one per
// field ("field: old → new"); unchanged objects are left out.
func printPlan(w io.Writer, changes []change) {
	for _, ch := range changes {
		obj := ch.object()
		switch ch.Action {
		case actUnchanged:
			continue
		case actCreate:
			fmt.Fprintf(w, "+ %s (create)\n", obj)
			for _, f := range ch.Changes {
				fmt.Fprintf(w, "    %s: %s\n", f.Field, show(f.To))
			}
		case actUpdate:
			fmt.Fprintf(w, "~ %s (update)\n", obj)
			for _, f := range ch.Changes {
				fmt.Fprintf(w, "    %s: %s → %s\n", f.Field, show(f.From), show(f.To))
			}
		case actDelete:
			fmt.Fprintf(w, "- %s (delete)\n", obj)
		case actExtra:
			fmt.Fprintf(w, "! %s is not in the file; --prune deletes it\n", obj)
		}
	}
}

// show writes a field's value as JSON: strings quoted, lists in brackets,
// durations as "1h0m0s".
func show(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
