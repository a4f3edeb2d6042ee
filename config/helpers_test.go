package config

import (
	"maps"
	"strings"
	"testing"
)

// loadBase loads base with yaml appended, under requiredEnv with extra
// added (extra wins).
func loadBase(tb testing.TB, yaml string, extra map[string]string) (*Config, error) {
	tb.Helper()
	e := requiredEnv()
	maps.Copy(e, extra)
	return Load(writeFile(tb, "c.yaml", base+yaml), env(e))
}

// mustLoadBase is loadBase, failing the test when Load fails.
func mustLoadBase(tb testing.TB, yaml string, extra map[string]string) *Config {
	tb.Helper()
	c, err := loadBase(tb, yaml, extra)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return c
}

// wantLoadError checks that loadBase fails with an error containing want.
func wantLoadError(tb testing.TB, yaml string, extra map[string]string, want string) {
	tb.Helper()
	if _, err := loadBase(tb, yaml, extra); err == nil || !strings.Contains(err.Error(), want) {
		tb.Errorf("Load: %v; want an error containing %q", err, want)
	}
}

// loadErrorCase is a file fragment (appended to base) and environment
// (added to requiredEnv) that Load must refuse with an error containing
// want.
type loadErrorCase struct {
	name, yaml string
	env        map[string]string
	want       string
}

// runLoadErrors runs each case as a subtest named after it.
func runLoadErrors(t *testing.T, cases []loadErrorCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			wantLoadError(t, tt.yaml, tt.env, tt.want)
		})
	}
}

// loadCase is a file fragment (appended to base) and environment (added
// to requiredEnv) under which Load must give want.
type loadCase[T any] struct {
	name, yaml string
	env        map[string]string
	want       T
}

// runLoads runs each case as a subtest: what get takes of the loaded
// Config (named what in a failure) must be equal to the case's want.
func runLoads[T any](t *testing.T, what string, get func(*Config) T, equal func(a, b T) bool, cases []loadCase[T]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(mustLoadBase(t, tt.yaml, tt.env)); !equal(got, tt.want) {
				t.Errorf("%s = %+v; want %+v", what, got, tt.want)
			}
		})
	}
}

// same is == for runLoads.
func same[T comparable](a, b T) bool { return a == b }
