package config

import (
	"maps"
	"strings"
	"testing"
)

func TestLoadRedisPersistence(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		want, err  string
	}{
		{name: "default", want: PersistenceRefuse},
		{name: "file", yaml: "redis_persistence: warn\n", want: PersistenceWarn},
		{name: "environment over file", yaml: "redis_persistence: warn\n", env: map[string]string{"OPTIN_REDIS_PERSISTENCE": "refuse"}, want: PersistenceRefuse},
		{name: "bad", env: map[string]string{"OPTIN_REDIS_PERSISTENCE": "ignore"}, err: "config: OPTIN_REDIS_PERSISTENCE: must be refuse or warn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := requiredEnv()
			maps.Copy(e, tt.env)
			c, err := Load(writeFile(t, "c.yaml", base+tt.yaml), env(e))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Load = %v; want an error holding %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.RedisPersistence != tt.want {
				t.Errorf("Load().RedisPersistence = %q; want %q", c.RedisPersistence, tt.want)
			}
		})
	}
}
