package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/all"
)

// Provider is one SMS provider the configuration enables: some of its
// settings are set.
type Provider struct {
	Name string
	// Settings are the provider's settings as its package declares them
	// (provider.Definition.Settings), filled from its section of the file
	// and its environment variables, and checked.
	Settings provider.Settings
	// Env is what the settings are built against.
	Env provider.Env
}

// checkProviderSections refuses a top-level key of the file that is
// neither a known setting nor a provider's section, as yaml refuses an
// unknown key.
func checkProviderSections(path string, sections map[string]yaml.Node) error {
	for _, k := range slices.Sorted(maps.Keys(sections)) {
		if !slices.ContainsFunc(all.Providers, func(d provider.Definition) bool { return d.Name == k }) {
			n := sections[k]
			return fmt.Errorf("config: %s: line %d: field %s not found in type config.file", path, n.Line, k)
		}
	}
	return nil
}

// loadProviders fills c.Providers from the providers' sections of the
// file and their environment variables, in provider/all's order. At
// least one provider must serve an inbound webhook.
func (c *Config) loadProviders(path string, sections map[string]yaml.Node, getenv func(string) string) error {
	c.Providers = nil
	webhooks, queued := 0, false
	for _, d := range all.Providers {
		s := d.Settings()
		names, set, err := fillSettings(path, d.Name, s, sections[d.Name], getenv)
		if err != nil {
			return err
		}
		for k := range set {
			c.setKeys[d.Name+"."+k] = true
		}
		if len(set) == 0 {
			continue
		}
		env := provider.Env{PublicURL: c.PublicURL, APINumbers: c.Outbound.APINumbers(), Name: func(k string) string { return names[k] }}
		if err := s.Check(env); err != nil {
			return err
		}
		p, _, err := s.Build(env, nil)
		if err != nil {
			return fmt.Errorf("config: %s: %w", d.Name, err)
		}
		if p != nil {
			webhooks++
			queued = queued || !p.Info().Inline
		}
		c.Providers = append(c.Providers, Provider{Name: d.Name, Settings: s, Env: env})
	}
	if webhooks == 0 {
		return fmt.Errorf("config: no SMS provider is configured: set a provider's webhook credentials in its section of the file or its environment variables (%s); see docs/providers.md", providerHints())
	}
	c.Outbound.queuedProvider = queued
	return nil
}

// providerHints names the first setting of every provider, e.g.
// "twilio.auth_token or OPTIN_TWILIO_AUTH_TOKEN".
func providerHints() string {
	var out []string
	for _, d := range all.Providers {
		t := reflect.TypeOf(d.Settings()).Elem()
		if t.NumField() == 0 {
			continue
		}
		env, _, _ := strings.Cut(t.Field(0).Tag.Get("env"), ",")
		out = append(out, d.Name+"."+t.Field(0).Tag.Get("yaml")+" or "+env)
	}
	return strings.Join(out, ", ")
}

// fillSettings fills the settings s (a pointer to a struct of string
// fields with yaml and env tags) of provider section from its part of
// the file, node, then its environment variables. It returns the name
// each key was set under and the keys set.
func fillSettings(path, section string, s provider.Settings, node yaml.Node, getenv func(string) string) (map[string]string, map[string]bool, error) {
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("config: provider %s: settings must be a pointer to a struct", section)
	}
	v = v.Elem()
	t := v.Type()
	if node.Kind != 0 {
		if err := checkKeys(path, t, node); err != nil {
			return nil, nil, err
		}
		if err := node.Decode(s); err != nil {
			return nil, nil, fmt.Errorf("config: %s: %s: %w", path, section, err)
		}
	}
	names, set := map[string]string{}, map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		env, opt, _ := strings.Cut(f.Tag.Get("env"), ",")
		if f.Type.Kind() != reflect.String || key == "" || env == "" {
			return nil, nil, fmt.Errorf("config: provider %s: setting %s must be a string with yaml and env tags", section, f.Name)
		}
		st := setting{section + "." + key, v.Field(i).String()}
		if opt == "secret" {
			if err := st.setSecret(getenv, env); err != nil {
				return nil, nil, err
			}
		} else {
			st.set(getenv, env)
		}
		v.Field(i).SetString(st.value)
		names[key] = st.name
		if st.value != "" {
			set[key] = true
		}
	}
	return names, set, nil
}

// checkKeys refuses a key of a provider's section that its settings do
// not have, as yaml refuses an unknown key.
func checkKeys(path string, t reflect.Type, node yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
			return nil
		}
		return fmt.Errorf("config: %s: line %d: want a mapping of settings", path, node.Line)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i]
		known := false
		for j := range t.NumField() {
			if t.Field(j).Tag.Get("yaml") == k.Value {
				known = true
			}
		}
		if !known {
			return fmt.Errorf("config: %s: line %d: field %s not found in type %s", path, k.Line, k.Value, t)
		}
	}
	return nil
}

// Provider returns the settings of the enabled provider name, or nil.
func (c *Config) Provider(name string) provider.Settings {
	for _, p := range c.Providers {
		if p.Name == name {
			return p.Settings
		}
	}
	return nil
}
