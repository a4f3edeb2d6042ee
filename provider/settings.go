package provider

import (
	"fmt"
	"net/http"
)

// Definition is a provider as the configuration knows it: its name and
// its settings. provider/all lists every one (Define), and that list is
// the only place that names them all.
type Definition struct {
	// Name is the provider's name (Info.Name) and the key of its section
	// of the configuration file.
	Name string
	// Settings returns new, empty settings: a pointer to a struct whose
	// string fields carry a `yaml` tag (the key in the provider's
	// section of the file) and an `env` tag (the environment variable
	// that overrides it; ",secret" also accepts <ENV>_FILE, the path of
	// a file holding the value). The configuration fills it; a provider
	// none of whose settings is set is not enabled.
	Settings func() Settings
}

// Define returns the Definition of provider name whose settings are S.
func Define[S any, P interface {
	*S
	Settings
}](name string) Definition {
	return Definition{Name: name, Settings: func() Settings { return P(new(S)) }}
}

// Settings are one provider's configuration, as its package declares
// them (see Definition.Settings).
type Settings interface {
	// Check validates the settings once they are filled; its error
	// names each setting as env.Name gives it.
	Check(env Env) error
	// Build returns the inbound webhook, nil when the settings configure
	// none (only a sender, say), and the sender, nil when they hold no
	// credentials for the provider's API; hc nil is a client with
	// DefaultSendTimeout.
	Build(env Env, hc *http.Client) (Provider, Sender, error)
}

// Env is what a provider's settings are checked and built against.
type Env struct {
	// PublicURL is the gateway's URL as providers reach it, without a
	// trailing slash: what a signature over the URL covers.
	PublicURL string
	// APINumbers is how many business numbers reply through the
	// provider's API (reply_mode api) rather than in the webhook's answer.
	APINumbers int
	// Name returns the name a setting was given under, for errors: the
	// file's path of its yaml key ("telnyx.public_key") or the
	// environment variable that set it. Nil: the yaml path.
	Name func(key string) string
}

// BothOrNeither returns the error for settings keyA and keyB of section
// when one is set (valueA, valueB) without the other: they go together.
func (e Env) BothOrNeither(section, keyA, valueA, keyB, valueB string) error {
	if (valueA == "") != (valueB == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", e.NameOf(section, keyA), e.NameOf(section, keyB))
	}
	return nil
}

// NameOf returns env.Name(key), or section.key without a Name.
func (e Env) NameOf(section, key string) string {
	if e.Name == nil {
		return section + "." + key
	}
	return e.Name(key)
}
