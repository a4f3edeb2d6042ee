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
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// defaultMaxSegments is the server's max_segments when a campaign gives none.
const defaultMaxSegments = 3

// fileError is a campaigns file that cannot be applied: exit code 5.
type fileError struct{ name, path, msg string }

func (e *fileError) Error() string {
	if e.path == "" {
		return e.name + ": " + e.msg
	}
	return fmt.Sprintf("%s: %s: %s", e.name, e.path, e.msg)
}

var idPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// readCampaignsFile decodes and checks a campaigns file: the tenants: list
// of config/example.yaml, unknown keys refused. Business numbers are
// normalised to E.164.
func readCampaignsFile(name string, r io.Reader) ([]Tenant, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, usagef("%s: %v", name, err)
	}
	// Other top-level keys (those of the gateway's own config file) are
	// left alone, so that config/example.yaml applies as it is; inside
	// tenants an unknown key is an error.
	var f struct {
		Tenants []Tenant             `yaml:"tenants"`
		Rest    map[string]yaml.Node `yaml:",inline"`
	}
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
		if !idPattern.MatchString(id) {
			return &fileError{name, path, fmt.Sprintf("%q must be 1 to 64 of a-z, 0-9 and -", id)}
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
				if !slices.ContainsFunc(t.Campaigns, func(c Campaign) bool { return c.ID == id }) {
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
	Version int `json:"-"`
	body    any // what to PUT
}

// fieldChange is one field of an object: from is nil for a creation.
type fieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// current is what the server holds of one tenant; Tenant is nil when it
// does not exist.
type current struct {
	Tenant    *Tenant
	Campaigns []Campaign
	Numbers   []Number
}

// plan compares the file's tenants with the server's and returns the
// changes in the order they are safe to make: per tenant, the tenant, its
// campaigns, its numbers, then deletions of numbers before campaigns (a
// number may still use a campaign until it is updated or deleted). Only
// with prune are objects missing from the file deleted; those of tenants
// the file does not list are never touched.
func plan(want []Tenant, have map[string]current, prune bool) []change {
	var out []change
	for _, t := range want {
		h := have[t.ID]
		out = append(out, diff("tenant", t.ID, t.ID, h.Tenant, t, normTenant))
		for _, c := range t.Campaigns {
			out = append(out, diff("campaign", t.ID, c.ID, find(h.Campaigns, func(x Campaign) bool { return x.ID == c.ID }), c, normCampaign))
		}
		for _, n := range t.Numbers {
			out = append(out, diff("number", t.ID, n.Number, find(h.Numbers, func(x Number) bool { return x.Number == n.Number }), n, normNumber))
		}
		gone := actExtra
		if prune {
			gone = actDelete
		}
		for _, n := range h.Numbers {
			if !slices.ContainsFunc(t.Numbers, func(x Number) bool { return x.Number == n.Number }) {
				out = append(out, change{Kind: "number", Tenant: t.ID, ID: n.Number, Action: gone, Version: n.Version})
			}
		}
		for _, c := range h.Campaigns {
			if !slices.ContainsFunc(t.Campaigns, func(x Campaign) bool { return x.ID == c.ID }) {
				out = append(out, change{Kind: "campaign", Tenant: t.ID, ID: c.ID, Action: gone, Version: c.Version})
			}
		}
	}
	return out
}

func find[T any](s []T, f func(T) bool) *T {
	if i := slices.IndexFunc(s, f); i >= 0 {
		return &s[i]
	}
	return nil
}

// diff compares the file's object want with the server's have (nil: none)
// field by field, after norm has filled in on both sides the defaults the
// server applies to a field left out.
func diff[T any](kind, tenant, id string, have *T, want T, norm func(T, *T) T) change {
	ch := change{Kind: kind, Tenant: tenant, ID: id, body: want}
	if have == nil { // the fields the file gives
		ch.Action = actCreate
		w := reflect.ValueOf(want)
		for i := range w.NumField() {
			f := w.Field(i)
			if name := jsonName(w.Type().Field(i)); name != "" && !f.IsZero() && (f.Kind() != reflect.Slice || f.Len() > 0) {
				ch.Changes = append(ch.Changes, fieldChange{Field: name, To: f.Interface()})
			}
		}
		return ch
	}
	w := reflect.ValueOf(norm(want, have))
	ch.Version = reflect.ValueOf(*have).FieldByName("Version").Interface().(int)
	h := reflect.ValueOf(norm(*have, nil))
	for i := range w.NumField() {
		name := jsonName(w.Type().Field(i))
		if name == "" || reflect.DeepEqual(h.Field(i).Interface(), w.Field(i).Interface()) {
			continue
		}
		ch.Changes = append(ch.Changes, fieldChange{Field: name, From: h.Field(i).Interface(), To: w.Field(i).Interface()})
	}
	ch.Action = actUpdate
	if len(ch.Changes) == 0 {
		ch.Action = actUnchanged
	}
	return ch
}

// jsonName is the wire name of a compared field; "" for the server's
// metadata and for fields not sent.
func jsonName(f reflect.StructField) string {
	if f.Anonymous {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func normTenant(t Tenant, _ *Tenant) Tenant {
	t.Campaigns, t.Numbers, t.Meta = nil, nil, Meta{}
	if t.RevocationScope == "" {
		t.RevocationScope = "number"
	}
	return t
}

// normCampaign fills in optin's defaults (code limits, the expired and
// already-subscribed texts) and the default max_segments.
func normCampaign(c Campaign, _ *Campaign) Campaign {
	d := optin.Campaign{
		Name: c.Name, Keywords: c.Keywords, Expired: c.Expired, AlreadySubscribed: c.AlreadySubscribed,
		CodeLength: c.CodeLength, CodeTTL: time.Duration(c.CodeTTL), MaxAttempts: c.MaxAttempts,
		MaxPrompts: c.MaxPrompts, PromptWindow: time.Duration(c.PromptWindow),
	}.WithDefaults()
	c.Expired, c.AlreadySubscribed = d.Expired, d.AlreadySubscribed
	c.CodeLength, c.CodeTTL, c.MaxAttempts = d.CodeLength, Duration(d.CodeTTL), d.MaxAttempts
	c.MaxPrompts, c.PromptWindow = d.MaxPrompts, Duration(d.PromptWindow)
	if c.MaxSegments == 0 {
		c.MaxSegments = defaultMaxSegments
	}
	c.Keywords = orEmpty(c.Keywords)
	c.FileVersion, c.Meta = 0, Meta{}
	return c
}

// normNumber fills in the default reply mode. A rate_limit of 0 in the file
// means the default for the number's kind, which the server may store as a
// figure: it is compared only when the file gives one.
func normNumber(n Number, have *Number) Number {
	if n.ReplyMode == "" {
		n.ReplyMode = "twiml"
	}
	if n.RateLimit == 0 && have != nil {
		n.RateLimit = have.RateLimit
	}
	n.Campaigns, n.KeywordPacks = orEmpty(n.Campaigns), orEmpty(n.KeywordPacks)
	n.Meta = Meta{}
	return n
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// fetch GETs what the server holds of each of the file's tenants.
func (c *cli) fetch(ctx context.Context, tenants []Tenant) (map[string]current, error) {
	have := map[string]current{}
	for _, t := range tenants {
		var cur current
		var tn Tenant
		_, err := c.api.getJSON(ctx, tenantPath(t.ID), &tn)
		switch {
		case isNotFound(err):
			have[t.ID] = cur
			continue
		case err != nil:
			return nil, fmt.Errorf("get tenant %s: %w", t.ID, err)
		}
		cur.Tenant = &tn
		var cl list[Campaign]
		if _, err := c.api.getJSON(ctx, tenantPath(t.ID)+"/campaigns", &cl); err != nil {
			return nil, fmt.Errorf("get campaigns of %s: %w", t.ID, err)
		}
		var nl list[Number]
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
	changes := plan(want, have, c.prune)
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
	var path string
	switch ch.Kind {
	case "tenant":
		path = tenantPath(ch.Tenant)
	case "campaign":
		path = campaignPath(ch.Tenant, ch.ID)
	default:
		path = numberPath(ch.Tenant, ch.ID)
	}
	var body any
	switch ch.Action {
	case actDelete:
		_, err := c.api.Do(ctx, http.MethodDelete, path, nil)
		return err
	case actCreate, actUpdate:
		body = withVersion(ch.body, ch.Version)
	default:
		return nil
	}
	_, err := c.api.Do(ctx, http.MethodPut, path, body)
	return err
}

// withVersion returns the object to PUT carrying version (0: none, a
// creation).
func withVersion(v any, version int) any {
	switch o := v.(type) {
	case Tenant:
		o.Meta = Meta{Version: version}
		return o
	case Campaign:
		o.Meta = Meta{Version: version}
		return o
	case Number:
		o.Meta = Meta{Version: version}
		return o
	}
	return v
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
