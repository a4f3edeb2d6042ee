package browsertest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestStartAndScreenshot drives Chromium to a page served on loopback,
// reads it back and saves a screenshot.
func TestStartAndScreenshot(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>probe</title><h1 id="h">hello from loopback</h1>`)
	}))
	defer srv.Close()
	t.Setenv("OPTIN_ARTIFACTS_DIR", t.TempDir())

	ctx := Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text("#h"))
	if err != nil {
		t.Fatal(err)
	}
	if got != "hello from loopback" {
		t.Fatalf("#h = %q; want %q", got, "hello from loopback")
	}
	png, err := os.ReadFile(Screenshot(t, ctx, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG: % x", png[:8])
	}
}
