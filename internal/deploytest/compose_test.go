package deploytest

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// root is the repository root, relative to this package's directory.
const root = "../.."

// secretNames are the secrets the gateway reads through *_FILE variables.
var secretNames = []string{"twilio_auth_token", "admin_token", "master_key"}

// loadCompose loads docker-compose.yml as `docker compose` would, with env as
// the whole environment. It loads a copy in a temporary directory next to
// dummy ./secrets/ files, since the real secrets are never in the repository.
func loadCompose(tb testing.TB, env map[string]string) *types.Project {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		tb.Fatalf("read docker-compose.yml: %v", err)
	}
	dir := tb.TempDir()
	path := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, name := range secretNames {
		if err := os.WriteFile(filepath.Join(dir, "secrets", name), []byte("dummy-"+name), 0o600); err != nil {
			tb.Fatal(err)
		}
	}

	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(environ), // not the test's own environment
	)
	if err != nil {
		tb.Fatalf("compose options: %v", err)
	}
	project, err := opts.LoadProject(tb.Context())
	if err != nil {
		tb.Fatalf("load docker-compose.yml: %v", err)
	}
	return project
}

// service returns the named service of p, failing the test when it is missing.
func service(tb testing.TB, p *types.Project, name string) types.ServiceConfig {
	tb.Helper()
	s, ok := p.Services[name]
	if !ok {
		tb.Fatalf("docker-compose.yml services = %v; want a %q service", slices.Sorted(maps.Keys(p.Services)), name)
	}
	return s
}

func TestComposeRedisIsDurable(t *testing.T) {
	p := loadCompose(t, nil)
	redis := service(t, p, "redis")

	if got, want := redis.Image, "redis:7"; got != want {
		t.Errorf("redis image = %q; want %q", got, want)
	}
	// redis-server takes "--name value" pairs: each must appear in order.
	cmd := strings.Join(redis.Command, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync always", "--aof-load-truncated no", "--auto-aof-rewrite-min-size 1gb"} {
		if !strings.Contains(" "+cmd+" ", " "+want+" ") {
			t.Errorf("redis command = %q; want it to contain %q", cmd, want)
		}
	}
	if len(redis.Command) == 0 || redis.Command[0] != "redis-server" {
		t.Errorf("redis command = %q; want it to start with redis-server", cmd)
	}
}

func TestComposeNamedVolumes(t *testing.T) {
	p := loadCompose(t, nil)
	tests := []struct {
		service string
		volume  string
		target  string
	}{
		{"redis", "redis-data", "/data"},
		{"gateway", "gateway-data", "/var/lib/optin-gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := service(t, p, tt.service)
			i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == tt.target })
			if i < 0 {
				t.Fatalf("%s volumes = %+v; want one at %s", tt.service, s.Volumes, tt.target)
			}
			v := s.Volumes[i]
			if v.Type != types.VolumeTypeVolume || v.Source != tt.volume {
				t.Errorf("%s volume at %s = %s %q; want named volume %q", tt.service, tt.target, v.Type, v.Source, tt.volume)
			}
			if _, ok := p.Volumes[tt.volume]; !ok {
				t.Errorf("top-level volumes = %v; want %q declared", slices.Sorted(maps.Keys(p.Volumes)), tt.volume)
			}
		})
	}
}

func TestComposeGatewayEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string // the environment docker compose runs in
		key  string
		want string
	}{
		{"redis url", nil, "OPTIN_REDIS_URL", "redis://redis:6379/0"},
		{"public url default", nil, "OPTIN_PUBLIC_URL", "http://localhost:8080"},
		{"public url from environment", map[string]string{"OPTIN_PUBLIC_URL": "https://sms.example.com"}, "OPTIN_PUBLIC_URL", "https://sms.example.com"},
		{"data dir", nil, "OPTIN_DATA_DIR", "/var/lib/optin-gateway"},
		{"twilio auth token", nil, "OPTIN_TWILIO_AUTH_TOKEN_FILE", "/run/secrets/twilio_auth_token"},
		{"admin token", nil, "OPTIN_ADMIN_TOKEN_FILE", "/run/secrets/admin_token"},
		{"master key", nil, "OPTIN_MASTER_KEY_FILE", "/run/secrets/master_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := service(t, loadCompose(t, tt.env), "gateway")
			v, ok := gw.Environment[tt.key]
			if !ok || v == nil {
				t.Fatalf("gateway environment has no %s; want %q", tt.key, tt.want)
			}
			if *v != tt.want {
				t.Errorf("gateway environment %s = %q; want %q", tt.key, *v, tt.want)
			}
		})
	}
}

// TestComposeSecrets checks that each *_FILE variable names a secret that
// the gateway mounts and that comes from ./secrets/.
func TestComposeSecrets(t *testing.T) {
	p := loadCompose(t, nil)
	gw := service(t, p, "gateway")
	for _, name := range secretNames {
		t.Run(name, func(t *testing.T) {
			if !slices.ContainsFunc(gw.Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == name }) {
				t.Errorf("gateway secrets = %+v; want %q", gw.Secrets, name)
			}
			s, ok := p.Secrets[name]
			if !ok {
				t.Fatalf("top-level secrets = %v; want %q", slices.Sorted(maps.Keys(p.Secrets)), name)
			}
			if want := filepath.Join("secrets", name); !strings.HasSuffix(s.File, want) {
				t.Errorf("secret %s file = %q; want ./%s", name, s.File, want)
			}
		})
	}
}

func TestComposeHealthChecks(t *testing.T) {
	p := loadCompose(t, nil)
	tests := []struct {
		service string
		want    []string
	}{
		{"redis", []string{"CMD", "redis-cli", "ping"}},
		{"gateway", []string{"CMD", "/usr/local/bin/optin-gateway", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			hc := service(t, p, tt.service).HealthCheck
			if hc == nil || hc.Disable {
				t.Fatalf("%s healthcheck = %+v; want test %q", tt.service, hc, tt.want)
			}
			if !slices.Equal(hc.Test, tt.want) {
				t.Errorf("%s healthcheck test = %q; want %q", tt.service, hc.Test, tt.want)
			}
		})
	}
}

func TestComposeGatewayWaitsForRedis(t *testing.T) {
	p := loadCompose(t, nil)
	gw := service(t, p, "gateway")
	dep, ok := gw.DependsOn["redis"]
	if !ok {
		t.Fatalf("gateway depends_on = %+v; want redis", gw.DependsOn)
	}
	if got, want := dep.Condition, types.ServiceConditionHealthy; got != want {
		t.Errorf("gateway depends_on redis condition = %q; want %q", got, want)
	}
	if gw.Build == nil || gw.Build.Context != p.WorkingDir {
		t.Errorf("gateway build = %+v; want context . (%s)", gw.Build, p.WorkingDir)
	}
	if !slices.ContainsFunc(gw.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 8080 && pc.Published == "8080" }) {
		t.Errorf("gateway ports = %+v; want 8080:8080", gw.Ports)
	}
}

// TestDockerfile checks, as text, what the compose file relies on.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	dockerfile := string(b)
	tests := []struct {
		name string
		want string
	}{
		{"static build", "CGO_ENABLED=0 go build"},
		{"builds the server", "./cmd/optin-gateway"},
		{"binary where the health check runs it", "/usr/local/bin/optin-gateway"},
		{"example config", "COPY config/example.yaml /etc/optin-gateway/config.yaml"},
		{"serves with that config", `"serve", "--config", "/etc/optin-gateway/config.yaml"`},
		{"data volume", "/var/lib/optin-gateway"},
		{"port", "EXPOSE 8080"},
		{"licence label", `org.opencontainers.image.licenses="Apache-2.0"`},
		{"licence text", "COPY LICENSE /usr/share/doc/optin-gateway/LICENSE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(dockerfile, tt.want) {
				t.Errorf("Dockerfile does not contain %q; want it to", tt.want)
			}
		})
	}
}

// TestSecretsIgnored checks that the secrets docker-compose.yml reads never
// reach git or a build context.
func TestSecretsIgnored(t *testing.T) {
	for _, name := range []string{".gitignore", ".dockerignore"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, name))
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			lines := strings.Split(string(b), "\n")
			if !slices.Contains(lines, "/secrets/") && !slices.Contains(lines, "secrets/") {
				t.Errorf("%s lines = %q; want secrets/ ignored", name, lines)
			}
		})
	}
}

// TestLicense checks that the repository carries the Apache-2.0 licence
// the README and the image's label name.
func TestLicense(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatalf("read LICENSE: %v", err)
	}
	for _, want := range []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "SPDX: `Apache-2.0`") {
		t.Error("README does not name the licence's SPDX id, Apache-2.0")
	}
}
