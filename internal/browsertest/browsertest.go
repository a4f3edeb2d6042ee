// Package browsertest drives Debian's headless Chromium from Go tests with
// chromedp. It starts one browser per test with a private profile directory
// and saves screenshots as test artifacts.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/chromedp/chromedp"
)

// Binary returns the path of the Chromium to drive: $OPTIN_CHROMIUM, or
// the first of chromium, chromium-browser and google-chrome on PATH.
func Binary() (string, error) {
	if p := os.Getenv("OPTIN_CHROMIUM"); p != "" {
		return p, nil
	}
	var err error
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		var p string
		if p, err = exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", err
}

// Start launches a headless Chromium for tb and returns a browser tab's
// context, cancelled (and the browser stopped) when tb ends. Without a
// Chromium the test fails with the command that installs it: it never
// skips silently.
func Start(tb testing.TB) context.Context {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatalf("browsertest: no Chromium found (%v); install it with `apt-get install chromium` or set OPTIN_CHROMIUM", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 900),
		// This machine's network is closed: without these Chromium keeps
		// trying to reach Google's hosts.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so that a broken install fails here. The first
	// action starts the browser under the context it is given: a context
	// with its own deadline would stop the browser when it ends.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("browsertest: start %s: %v", bin, err)
	}
	return ctx
}

// ArtifactsDir is where screenshots go: $OPTIN_ARTIFACTS_DIR, or
// artifacts/ at the root of the module.
func ArtifactsDir() string {
	if d := os.Getenv("OPTIN_ARTIFACTS_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "artifacts")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot saves a full-page PNG of the tab as
// ArtifactsDir()/<test name>/<name>.png and returns its path.
func Screenshot(tb testing.TB, ctx context.Context, name string) string {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; less: JPEG
	if err != nil {
		tb.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	dir := filepath.Join(ArtifactsDir(), unsafeName.ReplaceAllString(tb.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("browsertest: %v", err)
	}
	path := filepath.Join(dir, unsafeName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatalf("browsertest: %v", err)
	}
	tb.Logf("screenshot %s", path)
	return path
}
