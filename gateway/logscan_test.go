package gateway_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/optin-gateway/optin-gateway/store"
)

// The suite's log scan: every server the tests start logs into suiteLog
// too (testLogger), and TestMain, once every test has run, scans all of it
// for the phone numbers and codes the suite used. A leak fails the whole
// package, naming the test and the line (the match masked).

// suiteLog collects the log lines of the whole package, and the codes
// the gateway sent.
var suiteLog = &logSink{codes: map[string]bool{}}

type logSink struct {
	mu    sync.Mutex
	lines []loggedLine
	codes map[string]bool
}

type loggedLine struct{ test, text string }

func (s *logSink) add(test, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, loggedLine{test, text})
}

// promptCode finds the code in a prompt ("Reply 123456 to confirm").
var promptCode = regexp.MustCompile(`Reply ([0-9]{4,10}) to`)

// sawReply records the codes in a reply the gateway sent.
func (s *logSink) sawReply(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range promptCode.FindAllStringSubmatch(body, -1) {
		s.codes[m[1]] = true
	}
}

// sinkWriter writes log lines of one test into the sink.
type sinkWriter struct{ test string }

func (w sinkWriter) Write(p []byte) (int, error) {
	suiteLog.add(w.test, string(p))
	return len(p), nil
}

// testLogger returns a logger that writes, as JSON, into the suite's log
// and into cores.
func testLogger(tb testing.TB, cores ...zapcore.Core) *zap.Logger {
	sink := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(sinkWriter{tb.Name()}), zapcore.DebugLevel)
	return zap.New(zapcore.NewTee(append(cores, sink)...))
}

// fictionalNumber matches the suite's numbers (+1 NPA 555 01XX) in any
// common format: E.164, national with or without separators, digits only;
// not inside a longer number (a time stamp).
var fictionalNumber = regexp.MustCompile(`(?:^|[^0-9])(?:\+?1[ .-]?)?\(?[0-9]{3}\)?[ .-]?555[ .-]?01[0-9]{2}(?:[^0-9]|$)`)

// businessNumber matches the suite's business numbers (+1 202 555 010X,
// see harness_test.go) in the same formats. A business number is the
// business's public address, not a person's: admin API errors name it
// (a number still using a campaign, say), and the scan lets it pass.
// People in the suite never have a number of that range.
var businessNumber = regexp.MustCompile(`^[^0-9]?(?:\+?1[ .-]?)?\(?202\)?[ .-]?555[ .-]?010[0-9][^0-9]?$`)

// scan returns the leaks in the suite's log, one per line.
func (s *logSink) scan() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var leaks []string
	for i, l := range s.lines {
		what := ""
		for _, m := range fictionalNumber.FindAllString(l.text, -1) {
			if !businessNumber.MatchString(m) {
				what = "a phone number"
			}
		}
		for _, t := range token.FindAllString(l.text, -1) {
			if s.codes[strings.TrimRight(t, ".:-")] {
				what = "a code"
			}
		}
		if what != "" {
			masked := fictionalNumber.ReplaceAllString(l.text, "<number>")
			leaks = append(leaks, fmt.Sprintf("gateway tests: log line %d of %s holds %s: %s", i+1, l.test, what, strings.TrimSpace(masked)))
		}
	}
	return leaks
}

func TestMain(m *testing.M) {
	store.SetLogger(func(msg string) { suiteLog.add("go-redis", msg) })
	code := m.Run()
	leaks := suiteLog.scan()
	for _, l := range leaks {
		fmt.Fprintln(os.Stderr, l)
	}
	if len(leaks) > 0 && code == 0 {
		code = 1
	}
	if code == 0 && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "gateway tests: %d log lines scanned, %d codes, no number or code found\n", len(suiteLog.lines), len(suiteLog.codes))
	}
	os.Exit(code)
}

// TestLogScanFindsLeaks: the scan finds a number in each common format and
// a code the gateway sent, and passes a masked number.
func TestLogScanFindsLeaks(t *testing.T) {
	s := &logSink{codes: map[string]bool{}}
	s.sawReply("Reply 482913 to confirm ACME Deals.")
	for _, line := range []string{`{"from":"+12125550123"}`, `called (212) 555-0123`, `n=212-555-0123`, `n=2125550123`, `{"code":"482913"}`} {
		s.add("planted", line)
	}
	s.add("planted", `{"phone":"+1212•••0123","id":"SM4829130000","ts":1795955501240}`)
	s.add("planted", `{"error":"campaign news is still in the campaigns of number +12025550100"}`)
	if got := s.scan(); len(got) != 5 {
		t.Errorf("scan of 5 leaks, a masked number, a time stamp and a business number = %d leaks %q; want 5", len(got), got)
	}
}
