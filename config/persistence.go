package config

import "fmt"

// Values of Config.RedisPersistence.
const (
	// PersistenceRefuse answers consent writes 503 (a STOP goes to the
	// spool) while Redis does not persist what it acknowledges.
	PersistenceRefuse = "refuse"
	// PersistenceWarn logs and counts the same but carries on.
	PersistenceWarn = "warn"
)

// loadPersistence sets c.RedisPersistence from the YAML key
// redis_persistence, overridden by OPTIN_REDIS_PERSISTENCE: refuse (the
// default) or warn. The embedded Redis (no OPTIN_REDIS_URL) keeps
// nothing across a restart by design and is not checked.
func loadPersistence(c *Config, yamlValue string, getenv func(string) string) error {
	s := setting{"redis_persistence", yamlValue}
	s.set(getenv, "OPTIN_REDIS_PERSISTENCE")
	switch s.value {
	case "":
		c.RedisPersistence = PersistenceRefuse
	case PersistenceRefuse, PersistenceWarn:
		c.RedisPersistence = s.value
	default:
		return fmt.Errorf("config: %s: must be %s or %s", s.name, PersistenceRefuse, PersistenceWarn)
	}
	return nil
}
