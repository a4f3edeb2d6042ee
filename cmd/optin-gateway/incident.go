package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/security"
	"github.com/optin-gateway/optin-gateway/store"
)

// NotificationDeadline is how long after becoming aware of a personal data
// breach a controller has to notify the supervisory authority (GDPR Art.
// 33(1)).
const NotificationDeadline = 72 * time.Hour

// incidentReport is what `optin-gateway incident report` prints.
type incidentReport struct {
	GeneratedAt time.Time        `json:"generated_at"`
	Since       time.Time        `json:"since"`
	Until       time.Time        `json:"until"`
	Token       string           `json:"token,omitempty"`
	Key         string           `json:"key,omitempty"`
	DetectedAt  time.Time        `json:"detected_at"`
	NotifyBy    time.Time        `json:"notify_by"` // DetectedAt + 72 h
	HoursLeft   float64          `json:"hours_left"`
	Revealed    bool             `json:"numbers_revealed"`
	Tenants     []incidentTenant `json:"tenants"`
	Subscribers int              `json:"subscribers"` // over all tenants
	Events      map[string]int   `json:"security_events"`
	Notes       []string         `json:"notes,omitempty"`
	touched     map[string]*incidentTenant
}

// incidentTenant is what the scope touched in one tenant.
type incidentTenant struct {
	Tenant      string               `json:"tenant"`
	Subscribers []incidentSubscriber `json:"subscribers"`
	// Other are the accesses that name no subscriber: audience exports
	// (every subscriber of the campaign then), consent checks (numbers the
	// caller sent).
	Other []incidentAccess `json:"other"`
	subs  map[string]*incidentSubscriber
}

// incidentSubscriber is one subscriber whose data was touched.
type incidentSubscriber struct {
	Subscriber string           `json:"subscriber"`
	Phone      string           `json:"phone,omitempty"` // with --reveal
	Accesses   []incidentAccess `json:"accesses"`
}

// incidentAccess is one access: what, when, by whom, why.
type incidentAccess struct {
	Action   string     `json:"action"`
	At       time.Time  `json:"at"`
	Until    *time.Time `json:"until,omitempty"`
	Actor    string     `json:"actor"`
	Role     string     `json:"role"`
	Reason   string     `json:"reason,omitempty"`
	Campaign string     `json:"campaign,omitempty"`
	Count    int        `json:"count,omitempty"`
}

// runIncident is the incident command: report lists whose data a token
// (or every actor) touched since a time, or whose data at rest a master
// key opens, with the 72-hour deadline from detection.
func runIncident(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "report" {
		return usageError{"incident: want report"}
	}
	fs := newFlagSet("incident report", stderr)
	sinceF := fs.String("since", "", "RFC 3339 time: the accesses at or after it (required)")
	untilF := fs.String("until", "", "RFC 3339 time: and before it (default now)")
	token := fs.String("token", "", "only what this API token id did")
	key := fs.String("key", "", "the subscribers whose data at rest this master key id opens")
	reveal := fs.Bool("reveal", false, "print the subscribers' numbers too (recorded in the access log)")
	detectedF := fs.String("detected-at", "", "RFC 3339 time the breach was detected (default now): starts the 72 hours")
	format := fs.String("format", "text", "text or json")
	o, err := openOperator(ctx, fs, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	defer o.close()
	now := time.Now().UTC()
	parse := func(name, v string, def time.Time) (time.Time, error) {
		if v == "" {
			return def, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, usageError{fmt.Sprintf("incident report: --%s: want an RFC 3339 time such as 2026-12-01T00:00:00Z", name)}
		}
		return t.UTC(), nil
	}
	switch {
	case *sinceF == "" && *key == "":
		return usageError{"incident report: --since is required"}
	case *token != "" && *key != "":
		return usageError{"incident report: give --token or --key, not both"}
	case *format != "text" && *format != "json":
		return usageError{"incident report: --format: want text or json"}
	}
	r := &incidentReport{GeneratedAt: now, Token: *token, Key: *key, Revealed: *reveal, Events: map[string]int{}, touched: map[string]*incidentTenant{}}
	if r.Since, err = parse("since", *sinceF, time.Time{}); err != nil {
		return err
	}
	if r.Until, err = parse("until", *untilF, now); err != nil {
		return err
	}
	if r.DetectedAt, err = parse("detected-at", *detectedF, now); err != nil {
		return err
	}
	r.NotifyBy = r.DetectedAt.Add(NotificationDeadline)
	r.HoursLeft = float64(r.NotifyBy.Sub(now).Round(6*time.Minute)) / float64(time.Hour)

	if *key != "" {
		if err := r.keyHolders(ctx, o); err != nil {
			return err
		}
	} else {
		if err := r.accesses(ctx, o); err != nil {
			return err
		}
		if err := r.securityEvents(ctx, o); err != nil {
			return err
		}
	}
	if *reveal {
		if err := r.revealNumbers(ctx, o, now); err != nil {
			return err
		}
	}
	r.finish()
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.writeText(stdout)
}

// in reports whether t is in the report's time range.
func (r *incidentReport) in(t time.Time) bool { return !t.Before(r.Since) && t.Before(r.Until) }

// tenant returns the report's entry of tenant, making it.
func (r *incidentReport) tenant(id string) *incidentTenant {
	t, ok := r.touched[id]
	if !ok {
		t = &incidentTenant{Tenant: id, subs: map[string]*incidentSubscriber{}, Subscribers: []incidentSubscriber{}, Other: []incidentAccess{}}
		r.touched[id] = t
	}
	return t
}

// subscriber returns tenant's entry of pseudonym id, making it.
func (t *incidentTenant) subscriber(id string) *incidentSubscriber {
	s, ok := t.subs[id]
	if !ok {
		s = &incidentSubscriber{Subscriber: id, Accesses: []incidentAccess{}}
		t.subs[id] = s
	}
	return s
}

// accesses reads the access entries of the scope: from the audit log
// (what lasts) and from Redis (what the archiver has not written yet, and
// the tenants' access logs), each entry once.
func (r *incidentReport) accesses(ctx context.Context, o *operator) error {
	seen := map[string]bool{}
	add := func(e optin.AccessEntry) error {
		if seen[e.ID] || !r.in(e.At) || (r.Token != "" && e.Actor != r.Token) {
			return nil
		}
		seen[e.ID] = true
		a := incidentAccess{Action: e.Action, At: e.At.UTC(), Actor: e.Actor, Role: string(e.Role), Reason: e.Reason, Campaign: e.Campaign, Count: e.Count}
		if !e.Until.IsZero() {
			u := e.Until.UTC()
			a.Until = &u
		}
		t := r.tenant(e.Tenant)
		if e.Subscriber == "" {
			t.Other = append(t.Other, a)
			return nil
		}
		s := t.subscriber(e.Subscriber)
		s.Accesses = append(s.Accesses, a)
		return nil
	}
	_, err := store.WalkLog(o.cfg.Audit.Dir, func(rec optin.AuditRecord) error {
		if rec.Access == nil {
			return nil
		}
		return add(*rec.Access)
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Notes = append(r.Notes, "no audit log at "+o.cfg.Audit.Dir+": only what Redis holds was read")
	case err != nil:
		return fmt.Errorf("incident report: audit log: %w", err)
	}
	return o.st.AccessEntries(ctx, r.Since, add)
}

// securityEvents counts the scope's security events by kind.
func (r *incidentReport) securityEvents(ctx context.Context, o *operator) error {
	return o.st.SecurityEvents(ctx, r.Since, func(raw []byte) error {
		var e security.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil // not ours to judge here: skipped
		}
		if r.in(e.At) && (r.Token == "" || e.Actor == r.Token || e.Target == r.Token) {
			r.Events[e.Kind] += e.Count
		}
		return nil
	})
}

// keyHolders lists the subscribers whose data key is wrapped under the
// master key.
func (r *incidentReport) keyHolders(ctx context.Context, o *operator) error {
	if !slices.ContainsFunc(o.cfg.MasterKeys, func(k config.MasterKey) bool { return k.ID == r.Key }) {
		r.Notes = append(r.Notes, "master key "+r.Key+" is not configured; data keys wrapped under it are listed all the same")
	}
	r.Notes = append(r.Notes, "every datum kept of these subscribers at rest (number, texts, codes; their audit records) is sealed under a data key that master key "+r.Key+" opens; rotate the master keys (optin-gateway keys rotate) and remove it")
	return o.st.KeyHolders(ctx, r.Key, func(tenant, id string) error {
		s := r.tenant(tenant).subscriber(id)
		s.Accesses = append(s.Accesses, incidentAccess{Action: "sealed_under_key", At: r.GeneratedAt, Actor: "key " + r.Key})
		return nil
	})
}

// revealNumbers opens the subscribers' numbers, recording each reveal in
// the access log as the operator's, for the incident.
func (r *incidentReport) revealNumbers(ctx context.Context, o *operator, now time.Time) error {
	for _, t := range r.touched {
		for id, s := range t.subs {
			p, ok, err := o.st.PhoneOf(ctx, t.Tenant, id)
			if err != nil {
				return fmt.Errorf("incident report: %w", err)
			}
			if !ok {
				s.Phone = "(erased or unknown)"
				continue
			}
			s.Phone = p.E164()
			rid := make([]byte, 8)
			if _, err := rand.Read(rid); err != nil {
				return err
			}
			e := optin.AccessEntry{ID: fmt.Sprintf("acc:%x", rid), Tenant: t.Tenant, At: now, Actor: "operator", Role: "operator",
				Action: optin.AccessReveal, Subscriber: id, Reason: "incident report"}
			if err := o.st.RecordAccess(ctx, e); err != nil {
				return fmt.Errorf("incident report: record the reveal: %w", err)
			}
		}
	}
	return nil
}

// finish sorts the report: tenants and subscribers by id, accesses by time.
func (r *incidentReport) finish() {
	r.Tenants = []incidentTenant{}
	for _, t := range r.touched {
		for _, s := range t.subs {
			sort.SliceStable(s.Accesses, func(i, j int) bool { return s.Accesses[i].At.Before(s.Accesses[j].At) })
			t.Subscribers = append(t.Subscribers, *s)
		}
		sort.Slice(t.Subscribers, func(i, j int) bool { return t.Subscribers[i].Subscriber < t.Subscribers[j].Subscriber })
		sort.SliceStable(t.Other, func(i, j int) bool { return t.Other[i].At.Before(t.Other[j].At) })
		r.Subscribers += len(t.Subscribers)
		r.Tenants = append(r.Tenants, *t)
	}
	sort.Slice(r.Tenants, func(i, j int) bool { return r.Tenants[i].Tenant < r.Tenants[j].Tenant })
}

// writeText prints the report for a person.
func (r *incidentReport) writeText(w io.Writer) error {
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	fmt.Fprintf(&b, "Incident report, generated %s\n", ts(r.GeneratedAt))
	switch {
	case r.Key != "":
		fmt.Fprintf(&b, "Scope: data at rest under master key %s\n", r.Key)
	case r.Token != "":
		fmt.Fprintf(&b, "Scope: token %s, from %s to %s\n", r.Token, ts(r.Since), ts(r.Until))
	default:
		fmt.Fprintf(&b, "Scope: every actor, from %s to %s\n", ts(r.Since), ts(r.Until))
	}
	left := fmt.Sprintf("%.1f h left", r.HoursLeft)
	if r.HoursLeft < 0 {
		left = fmt.Sprintf("OVERDUE by %.1f h", -r.HoursLeft)
	}
	fmt.Fprintf(&b, "Detected at %s: notify the supervisory authority by %s (GDPR Art. 33, 72 h), %s.\n", ts(r.DetectedAt), ts(r.NotifyBy), left)
	fmt.Fprintf(&b, "Touched: %d subscribers in %d tenant(s).\n", r.Subscribers, len(r.Tenants))
	for _, t := range r.Tenants {
		fmt.Fprintf(&b, "\nTenant %s: %d subscribers\n", t.Tenant, len(t.Subscribers))
		for _, s := range t.Subscribers {
			fmt.Fprintf(&b, "  %s", s.Subscriber)
			if s.Phone != "" {
				fmt.Fprintf(&b, "  %s", s.Phone)
			}
			b.WriteString("\n")
			for _, a := range s.Accesses {
				b.WriteString("    " + a.line() + "\n")
			}
		}
		for _, a := range t.Other {
			b.WriteString("  " + a.line() + "\n")
		}
	}
	if len(r.Events) > 0 {
		b.WriteString("\nSecurity events in scope:")
		for _, k := range slices.Sorted(maps.Keys(r.Events)) {
			fmt.Fprintf(&b, " %s %d", k, r.Events[k])
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// line is a for the text report: when, what, by whom and the rest it has.
func (a incidentAccess) line() string {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s by %s", ts(a.At), a.Action, a.Actor)
	if a.Role != "" {
		fmt.Fprintf(&b, " (%s)", a.Role)
	}
	if a.Campaign != "" {
		fmt.Fprintf(&b, " of campaign %s (every subscriber of it then)", a.Campaign)
	}
	if a.Count > 0 {
		fmt.Fprintf(&b, " ×%d", a.Count)
	}
	if a.Until != nil {
		fmt.Fprintf(&b, " until %s", ts(*a.Until))
	}
	if a.Reason != "" {
		fmt.Fprintf(&b, ": %q", a.Reason)
	}
	return b.String()
}
