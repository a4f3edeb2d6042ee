package config

import "testing"

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
			if tt.err != "" {
				wantLoadError(t, tt.yaml, tt.env, tt.err)
				return
			}
			c := mustLoadBase(t, tt.yaml, tt.env)
			if c.RedisPersistence != tt.want {
				t.Errorf("Load().RedisPersistence = %q; want %q", c.RedisPersistence, tt.want)
			}
		})
	}
}
