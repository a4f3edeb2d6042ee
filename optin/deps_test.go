package optin_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDependencies enforces STYLE.md rule 2: package optin imports only the
// standard library, plus golang.org/x/text for Unicode normalisation; the
// check covers everything it imports, directly or not.
func TestDependencies(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "list", "-deps",
		"-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s list -deps .: %v\n%s", goTool, err, stderr)
	}
	const self = "github.com/optin-gateway/optin-gateway/optin"
	var found bool
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == self:
			found = true
		case strings.HasPrefix(p, "golang.org/x/text/"):
		default:
			t.Errorf("package optin depends on %s; want only the standard library and golang.org/x/text/...", p)
		}
	}
	if !found {
		t.Errorf("go list -deps . did not list %s; got:\n%s", self, out)
	}
}
