package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/security"
)

// The admin API's configuration routes: tenants, campaigns and numbers,
// each a JSON document with a version, written compare-and-set and put on
// the audit trail with its actor (contract: /tmp/briefs/contract.md, and
// README "Admin API").

// dryRunView is the answer of a PUT or DELETE with ?dry_run=true.
type dryRunView struct {
	DryRun  bool     `json:"dry_run"`
	Action  string   `json:"action"` // create, update, delete, unchanged
	Changes []change `json:"changes"`
}

type change struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// metaFields are the fields the store sets on every document.
var metaFields = []string{"version", "updated_at", "updated_by"}

// decodeDoc reads the JSON body into v, refusing unknown fields, and
// returns the "version" it gave, if any.
func decodeDoc(c echo.Context, v any) (*int, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, &optin.FieldError{Field: te.Field, Msg: fmt.Sprintf("%s must be a JSON %s", te.Field, jsonType(te.Type))}
		}
		return nil, badRequest{"malformed JSON body: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	var ver struct {
		Version *int `json:"version"`
	}
	_ = json.Unmarshal(b, &ver)
	return ver.Version, nil
}

func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "array"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "number"
}

// docMap returns v's JSON as a map.
func docMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// diff lists the fields that differ between from and to, meta fields left out.
func diff(from, to map[string]any) []change {
	keys := map[string]bool{}
	for k := range from {
		keys[k] = true
	}
	for k := range to {
		keys[k] = true
	}
	out := []change{}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if slices.Contains(metaFields, k) || reflect.DeepEqual(from[k], to[k]) {
			continue
		}
		out = append(out, change{Field: k, From: from[k], To: to[k]})
	}
	return out
}

// samePathID refuses a body whose id (given, when not empty) is not the
// id of the path.
func samePathID(noun, given, id string) error {
	if given != "" && given != id {
		return &optin.FieldError{Field: "id", Msg: fmt.Sprintf("id %q is not the %s of the path, %q", given, noun, id)}
	}
	return nil
}

func isDryRun(c echo.Context) bool { return c.QueryParam("dry_run") == "true" }

// putDoc writes next as the document ref names: create (201), update
// (200) or, for an identical document, nothing (200, version unchanged).
// version, when given, must be the stored version (409 otherwise).
func (s *Server) putDoc(c echo.Context, ref optin.ConfigRef, next any, version *int) error {
	p, err := s.planPut(c, ref, next, version, func(raw []byte) (map[string]any, int, error) {
		var prev map[string]any
		err := json.Unmarshal(raw, &prev)
		v, _ := prev["version"].(float64)
		return prev, int(v), err
	})
	if err != nil || p.answered {
		return err
	}
	if p.action == "unchanged" {
		return c.JSONBlob(http.StatusOK, p.prevRaw)
	}
	now := s.opts.Now().UTC()
	actor := who(c).actor
	p.next["version"], p.next["updated_at"], p.next["updated_by"] = p.prevVersion+1, now, actor
	raw, err := json.Marshal(p.next)
	if err != nil {
		return err
	}
	if err := s.commitDoc(c, ref, p.prevRaw, raw, raw, p.action, p.prevVersion+1); err != nil {
		return err
	}
	status := http.StatusOK
	if p.action == "create" {
		status = http.StatusCreated
	}
	return c.JSONBlob(status, raw)
}

// putPlan is what a PUT does over the stored document.
type putPlan struct {
	prevRaw     []byte         // the stored JSON; nil: none
	prevVersion int            // its version; 0: none
	next        map[string]any // the document put, as a map
	action      string         // see plan
	answered    bool           // a dry run, whose answer is sent
}

// planPut reads the stored document of ref, checks version (when given,
// not 0) against it and plans next over it; fields returns the fields
// compared and the version of stored JSON. A dry run is answered here.
func (s *Server) planPut(c echo.Context, ref optin.ConfigRef, next any, version *int, fields func(raw []byte) (map[string]any, int, error)) (putPlan, error) {
	var p putPlan
	prevRaw, err := s.opts.Services.Config.ConfigGet(c.Request().Context(), ref)
	if err != nil && !errors.Is(err, optin.ErrNotFound) {
		return p, err
	}
	var prev map[string]any
	if prevRaw != nil {
		if prev, p.prevVersion, err = fields(prevRaw); err != nil {
			return p, err
		}
	}
	if version != nil && *version != 0 && *version != p.prevVersion { // 0: not given
		return p, conflictError{"version", fmt.Sprintf("version %d is not the current version %d", *version, p.prevVersion)}
	}
	if p.next, err = docMap(next); err != nil {
		return p, err
	}
	p.prevRaw = prevRaw
	var changes []change
	p.action, changes = plan(prev, p.next, prevRaw != nil)
	if isDryRun(c) {
		p.answered = true
		return p, c.JSON(http.StatusOK, dryRunView{DryRun: true, Action: p.action, Changes: changes})
	}
	return p, nil
}

// deleteDoc deletes the document ref names (204), after check (if any)
// has seen it; version, when given, must be the stored version.
func (s *Server) deleteDoc(c echo.Context, ref optin.ConfigRef, check func(prev []byte) error) error {
	ctx := c.Request().Context()
	prevRaw, err := s.opts.Services.Config.ConfigGet(ctx, ref)
	if err != nil {
		return err
	}
	var prev map[string]any
	if err := json.Unmarshal(prevRaw, &prev); err != nil {
		return err
	}
	if check != nil {
		if err := check(prevRaw); err != nil {
			return err
		}
	}
	if isDryRun(c) {
		return c.JSON(http.StatusOK, dryRunView{DryRun: true, Action: "delete", Changes: diff(prev, map[string]any{})})
	}
	v, _ := prev["version"].(float64)
	if err := s.commitDoc(c, ref, prevRaw, nil, nil, "delete", int(v)+1); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// commitDoc writes raw (nil: deletes) over prevRaw with an audit record
// holding doc, then reloads the configuration so that the change applies
// at once on this instance.
func (s *Server) commitDoc(c echo.Context, ref optin.ConfigRef, prevRaw, raw, doc []byte, action string, version int) error {
	ctx := c.Request().Context()
	now := s.opts.Now().UTC()
	if doc == nil {
		doc = []byte("null")
	}
	rec := &optin.ConfigChange{
		ID: fmt.Sprintf("cfg:%s:%s:%s:%d", ref.Object, ref.Tenant, ref.ID, now.UnixNano()), Tenant: ref.Tenant,
		Object: ref.Object, Key: ref.ID, Action: action, Version: version, Actor: who(c).actor, At: now, Doc: doc,
	}
	if err := s.opts.Services.Config.ConfigPut(ctx, ref, prevRaw, raw, rec); err != nil {
		if errors.Is(err, optin.ErrConflict) {
			return conflictError{"version", "the object changed meanwhile: read it again"}
		}
		return err
	}
	logFields(c, zap.String("config_change", ref.Object+" "+action), zap.String("tenant", ref.Tenant))
	return s.reloadConfig(ctx)
}

// needConfig answers 404 in static mode, where nothing is configurable.
func (s *Server) needConfig(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Services.Config == nil {
			return optin.ErrNotFound
		}
		return next(c)
	}
}

// tenantOf returns the tenant of the path, or optin.ErrNotFound.
func (s *Server) tenantOf(c echo.Context) (optin.TenantDoc, error) {
	t, ok := s.snap().set.Tenants[c.Param("tenant")]
	if !ok {
		return t, optin.ErrNotFound
	}
	return t.WithDefaults(), nil
}

// getDoc answers the stored JSON of ref.
func (s *Server) getDoc(c echo.Context, ref optin.ConfigRef) error {
	raw, err := s.opts.Services.Config.ConfigGet(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, raw)
}

type itemsView[T any] struct {
	Items []T `json:"items"`
}

// sortedItems lists the values of m by key.
func sortedItems[T any](m map[string]T) itemsView[T] {
	items := make([]T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		items = append(items, m[k])
	}
	return itemsView[T]{items}
}

// tenantItems answers, by id, the documents of the path's tenant in the
// map of the configuration that of picks.
func tenantItems[T any](s *Server, c echo.Context, of func(optin.ConfigSet) map[string]map[string]T) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sortedItems(of(s.snap().set)[t.ID]))
}

// putDocument is a configuration document a PUT writes.
type putDocument[T any] interface {
	WithDefaults() T
	Validate() error
}

// decodePut reads the body of a PUT as a T named id (fields returns
// where its id and meta fields are: a body naming another id is refused,
// its meta fields are dropped), its defaults filled and valid, and the
// version the body gave.
func decodePut[T putDocument[T]](c echo.Context, noun, id string, fields func(*T) (*string, *optin.Meta)) (T, *int, error) {
	var doc T
	version, err := decodeDoc(c, &doc)
	if err != nil {
		return doc, nil, err
	}
	given, meta := fields(&doc)
	if err := samePathID(noun, *given, id); err != nil {
		return doc, nil, err
	}
	*given, *meta = id, optin.Meta{}
	doc = doc.WithDefaults()
	return doc, version, doc.Validate()
}

// handleTenantList lists every tenant to the operator, its own to a token.
func (s *Server) handleTenantList(c echo.Context) error {
	p := who(c)
	set := s.snap().set
	items := []optin.TenantDoc{}
	for _, id := range slices.Sorted(maps.Keys(set.Tenants)) {
		if p.operator || id == p.tenant {
			items = append(items, set.Tenants[id].WithDefaults())
		}
	}
	return c.JSON(http.StatusOK, itemsView[optin.TenantDoc]{items})
}

// handleTenantGet returns one tenant.
func (s *Server) handleTenantGet(c echo.Context) error {
	return s.getDoc(c, optin.ConfigRef{Object: optin.ObjectTenant, Tenant: c.Param("tenant"), ID: c.Param("tenant")})
}

// handleTenantPut creates (operator only) or replaces a tenant.
func (s *Server) handleTenantPut(c echo.Context) error {
	id := c.Param("tenant")
	doc, version, err := decodePut(c, "tenant", id, func(d *optin.TenantDoc) (*string, *optin.Meta) { return &d.ID, &d.Meta })
	if err != nil {
		return err
	}
	if _, err := s.tenantOf(c); err != nil && !who(c).operator {
		s.security(c, "forbidden")
		return errForbidden // only the operator creates tenants
	}
	return s.putDoc(c, optin.ConfigRef{Object: optin.ObjectTenant, Tenant: id, ID: id}, doc, version)
}

// handleTenantDelete deletes a tenant that has no campaigns and no
// numbers left (operator only).
func (s *Server) handleTenantDelete(c echo.Context) error {
	id := c.Param("tenant")
	if err := s.reloadConfig(c.Request().Context()); err != nil {
		return err
	}
	set := s.snap().set
	return s.deleteDoc(c, optin.ConfigRef{Object: optin.ObjectTenant, Tenant: id, ID: id}, func([]byte) error {
		switch {
		case len(set.Numbers[id]) > 0:
			return conflictError{"numbers", fmt.Sprintf("tenant %s still has %d numbers: delete them first", id, len(set.Numbers[id]))}
		case len(set.Campaigns[id]) > 0:
			return conflictError{"campaigns", fmt.Sprintf("tenant %s still has %d campaigns: delete them first", id, len(set.Campaigns[id]))}
		}
		return nil
	})
}

// handleCampaignList lists a tenant's campaigns by id.
func (s *Server) handleCampaignList(c echo.Context) error {
	return tenantItems(s, c, func(set optin.ConfigSet) map[string]map[string]optin.CampaignDoc { return set.Campaigns })
}

// handleCampaignGet returns one campaign.
func (s *Server) handleCampaignGet(c echo.Context) error {
	if _, err := s.tenantOf(c); err != nil {
		return err
	}
	return s.getDoc(c, optin.ConfigRef{Object: optin.ObjectCampaign, Tenant: c.Param("tenant"), ID: c.Param("campaign")})
}

// handleCampaignPut creates or replaces a campaign, checked on its own and
// on every number of the tenant that runs it.
func (s *Server) handleCampaignPut(c echo.Context) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	id := c.Param("campaign")
	doc, version, err := decodePut(c, "campaign", id, func(d *optin.CampaignDoc) (*string, *optin.Meta) { return &d.ID, &d.Meta })
	if err != nil {
		return err
	}
	set := s.snap().set
	camps := maps.Clone(set.Campaigns[t.ID])
	if camps == nil {
		camps = map[string]optin.CampaignDoc{}
	}
	camps[id] = doc
	for _, e164 := range slices.Sorted(maps.Keys(set.Numbers[t.ID])) {
		n := set.Numbers[t.ID][e164].WithDefaults()
		if !slices.Contains(n.Campaigns, id) {
			continue
		}
		if _, err := optin.BuildNumber(t, n, camps); err != nil {
			return &optin.FieldError{Field: "keywords", Msg: fmt.Sprintf("keywords: on number %s: %v", e164, err)}
		}
	}
	return s.putDoc(c, optin.ConfigRef{Object: optin.ObjectCampaign, Tenant: t.ID, ID: id}, doc, version)
}

// handleCampaignDelete deletes a campaign that no number runs.
func (s *Server) handleCampaignDelete(c echo.Context) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	id := c.Param("campaign")
	return s.deleteDoc(c, optin.ConfigRef{Object: optin.ObjectCampaign, Tenant: t.ID, ID: id}, func([]byte) error {
		nums := s.snap().set.Numbers[t.ID]
		for _, e164 := range slices.Sorted(maps.Keys(nums)) {
			if slices.Contains(nums[e164].Campaigns, id) {
				return conflictError{"campaigns", fmt.Sprintf("campaign %s is still in the campaigns of number %s", id, e164)}
			}
		}
		return nil
	})
}

// numberParam parses the :number path parameter: E.164 (its "+" literal
// or %2B) or a short code.
func numberParam(c echo.Context) (string, error) {
	p, err := pathPhone(c, "number", phone.ParseBusiness)
	return p.E164(), err
}

// handleNumberList lists a tenant's numbers.
func (s *Server) handleNumberList(c echo.Context) error {
	return tenantItems(s, c, func(set optin.ConfigSet) map[string]map[string]optin.NumberDoc { return set.Numbers })
}

// numberRef returns the tenant of the path and the reference of its
// :number document.
func (s *Server) numberRef(c echo.Context) (optin.TenantDoc, optin.ConfigRef, error) {
	t, err := s.tenantOf(c)
	if err != nil {
		return t, optin.ConfigRef{}, err
	}
	e164, err := numberParam(c)
	return t, optin.ConfigRef{Object: optin.ObjectNumber, Tenant: t.ID, ID: e164}, err
}

// handleNumberGet returns one number.
func (s *Server) handleNumberGet(c echo.Context) error {
	_, ref, err := s.numberRef(c)
	if err != nil {
		return err
	}
	return s.getDoc(c, ref)
}

// handleNumberPut creates or replaces a number of the tenant.
func (s *Server) handleNumberPut(c echo.Context) error {
	t, ref, err := s.numberRef(c)
	if err != nil {
		return err
	}
	e164 := ref.ID
	var doc optin.NumberDoc
	version, err := decodeDoc(c, &doc)
	if err != nil {
		return err
	}
	if doc.Number != "" {
		if p, err := phone.ParseBusiness(doc.Number); err != nil || p.E164() != e164 {
			return &optin.FieldError{Field: "number", Msg: "number is not the number of the path"}
		}
	}
	doc.Number, doc.Meta = e164, optin.Meta{}
	doc = doc.WithDefaults()
	set := s.snap().set
	for other, nums := range set.Numbers {
		if _, ok := nums[e164]; ok && other != t.ID {
			return conflictError{"number", "number " + e164 + " belongs to another tenant"}
		}
	}
	camps := map[string]optin.CampaignDoc{}
	for id, cd := range set.Campaigns[t.ID] {
		camps[id] = cd.WithDefaults()
	}
	if _, err := optin.BuildNumber(t, doc, camps); err != nil {
		return err
	}
	if doc.ReplyMode == "api" && s.opts.Services.Outbound == nil {
		return &optin.FieldError{Field: "reply_mode", Msg: "reply_mode api needs the outbound sender, which this gateway does not run"}
	}
	return s.putDoc(c, ref, doc, version)
}

// handleNumberDelete deletes a number: the gateway stops serving it.
func (s *Server) handleNumberDelete(c echo.Context) error {
	_, ref, err := s.numberRef(c)
	if err != nil {
		return err
	}
	return s.deleteDoc(c, ref, nil)
}

// tokenView is a token as listed: never the token or its hash.
type tokenView struct {
	ID        string     `json:"id"`
	Token     string     `json:"token,omitempty"` // only in the answer to its creation
	Tenant    string     `json:"tenant"`
	Role      optin.Role `json:"role"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
}

// handleTokenCreate creates an API token of the tenant and answers it,
// once; the store keeps only its SHA-256.
func (s *Server) handleTokenCreate(c echo.Context) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	var req struct {
		Role optin.Role `json:"role"`
		Name string     `json:"name"`
	}
	if _, err := decodeDoc(c, &req); err != nil {
		return err
	}
	switch {
	case !optin.ValidRole(req.Role):
		return &optin.FieldError{Field: "role", Msg: "role must be admin, support, auditor, sender or metrics"}
	case req.Role == optin.RoleMetrics && !who(c).operator:
		// /metrics spans every tenant: only the operator hands it out.
		s.security(c, "forbidden")
		return errForbidden
	case strings.TrimSpace(req.Name) == "" || len(req.Name) > 64:
		return &optin.FieldError{Field: "name", Msg: "name must be 1 to 64 characters"}
	}
	id, tok, err := newToken(s.opts.Rand)
	if err != nil {
		return err
	}
	sum := sha256Hex(tok)
	doc := optin.TokenDoc{ID: id, Tenant: t.ID, Role: req.Role, Name: req.Name, CreatedAt: s.opts.Now().UTC(), CreatedBy: who(c).actor}
	public, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	doc.Hash = sum
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := s.commitDoc(c, optin.ConfigRef{Object: optin.ObjectToken, Tenant: t.ID, ID: id}, nil, raw, public, "create", 1); err != nil {
		return err
	}
	logFields(c, zap.String("token_id", id))
	s.securityEvent(c, security.Event{Kind: security.KindTokenCreated, Tenant: t.ID, Target: id})
	return c.JSON(http.StatusCreated, tokenView{ID: id, Token: tok, Tenant: t.ID, Role: doc.Role, Name: doc.Name, CreatedAt: doc.CreatedAt})
}

// handleTokenList lists the tenant's tokens, oldest first.
func (s *Server) handleTokenList(c echo.Context) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	docs, err := s.opts.Services.Config.Tokens(c.Request().Context(), t.ID)
	if err != nil {
		return err
	}
	slices.SortFunc(docs, func(a, b optin.TokenDoc) int {
		if d := a.CreatedAt.Compare(b.CreatedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	items := make([]tokenView, 0, len(docs))
	for _, d := range docs {
		items = append(items, tokenView{ID: d.ID, Tenant: d.Tenant, Role: d.Role, Name: d.Name, CreatedAt: d.CreatedAt})
	}
	return c.JSON(http.StatusOK, itemsView[tokenView]{items})
}

// handleTokenDelete revokes a token: the next request with it gets 401,
// and its console sessions end.
func (s *Server) handleTokenDelete(c echo.Context) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	ref := optin.ConfigRef{Object: optin.ObjectToken, Tenant: t.ID, ID: c.Param("id")}
	prev, err := s.opts.Services.Config.ConfigGet(c.Request().Context(), ref)
	if err != nil {
		return err
	}
	var doc optin.TokenDoc
	if err := json.Unmarshal(prev, &doc); err != nil {
		return err
	}
	if doc.Tenant != t.ID {
		return optin.ErrNotFound
	}
	if err := s.commitDoc(c, ref, prev, nil, nil, "delete", 2); err != nil {
		return err
	}
	s.closeTokenSessions(c, doc.ID)
	s.securityEvent(c, security.Event{Kind: security.KindTokenRevoked, Tenant: t.ID, Target: doc.ID})
	return c.NoContent(http.StatusNoContent)
}

// plan is what a PUT of next over prev does: "create" (nothing existed),
// "unchanged" or "update", with the changed fields.
func plan(prev, next map[string]any, exists bool) (string, []change) {
	changes := diff(prev, next)
	switch {
	case !exists:
		return "create", changes
	case len(changes) == 0:
		return "unchanged", changes
	}
	return "update", changes
}

// queryLimit is the "limit" query parameter, 1..most, def when absent.
func queryLimit(c echo.Context, def, most int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, &optin.FieldError{Field: "limit", Msg: fmt.Sprintf("limit must be 1..%d", most)}
	}
	return n, nil
}
