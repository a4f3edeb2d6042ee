// Command audit runs the security and correctness analysers (gosec and
// staticcheck, pinned in tools/go.mod) over the main module and compares
// their findings with the reviewed baseline, .ci/audit-baseline.
//
// A finding is known by its analyser and rule, its file and the text of its
// source line (not the line number, so that an edit elsewhere in the file
// does not make it new). The build fails on a finding the baseline does not
// hold, on a baseline entry no finding matches any more (stale), and on an
// entry whose reason is missing or still TODO. With -update the baseline is
// rewritten: kept entries keep their reasons, stale ones go, new ones are
// added under "reason: TODO", which fails until someone has reviewed them.
//
//	go run -C tools ./audit -root .. [-update]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// finding is one analyser report, keyed by rule, file and source text.
type finding struct {
	Rule    string // "gosec:G304", "staticcheck:SA1019"
	File    string // relative to the module root, slash-separated
	Text    string // the reported source line, whitespace trimmed
	Line    int    // for the message only
	Message string // for the message only
}

func (f finding) key() string { return f.Rule + " " + f.File + " | " + f.Text }

// entry is one accepted finding of the baseline.
type entry struct {
	key      string
	reason   string
	optional bool // "? " before the key: gosec's taint analysis reports it on some runs only
}

const baselineHeader = `# .ci/audit-baseline: the findings of gosec and staticcheck that were
# reviewed and accepted. scripts/audit fails on any finding not listed here,
# on an entry that no longer matches a finding, and on a reason that is
# missing or TODO. An entry is "<analyser>:<rule> <file> | <source line>";
# the "reason:" line above it applies to every entry up to the next reason.
# "? " before an entry: a finding that gosec's taint analysis (G7xx) reports
# on some runs and not on others; accepted when present, never stale.
# Regenerate with scripts/audit --update, then write the reasons.
`

func main() {
	root := flag.String("root", ".", "the main module's directory")
	baselinePath := flag.String("baseline", ".ci/audit-baseline", "the baseline, relative to -root")
	update := flag.Bool("update", false, "rewrite the baseline from today's findings")
	flag.Parse()
	if err := run(*root, *baselinePath, *update); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(1)
	}
}

func run(root, baselinePath string, update bool) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	var found []finding
	for _, a := range []func(string) ([]finding, error){runGosec, runStaticcheck} {
		fs, err := a(root)
		if err != nil {
			return err
		}
		found = append(found, fs...)
	}
	path := filepath.Join(root, baselinePath)
	base, err := readBaseline(path)
	if err != nil {
		return err
	}
	newOnes, stale, kept := compare(found, base)
	if update {
		if err := writeBaseline(path, kept, newOnes); err != nil {
			return err
		}
		fmt.Printf("audit: baseline rewritten: %d kept, %d added (reason TODO), %d stale removed\n", len(kept), len(newOnes), len(stale))
		return nil
	}
	var problems []string
	for _, f := range newOnes {
		problems = append(problems, fmt.Sprintf("new finding %s %s:%d: %s\n    %s", f.Rule, f.File, f.Line, f.Message, f.Text))
	}
	for _, e := range stale {
		problems = append(problems, "stale baseline entry (no finding matches it; remove it): "+e.key)
	}
	for _, e := range kept {
		if r := strings.TrimSpace(e.reason); r == "" || strings.HasPrefix(r, "TODO") {
			problems = append(problems, "baseline entry without a reviewed reason: "+e.key)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		return fmt.Errorf("%d problem(s); fix the code, or review and accept with scripts/audit --update and a reason in %s", len(problems), baselinePath)
	}
	fmt.Printf("audit: %d findings, all in the reviewed baseline\n", len(found))
	return nil
}

// compare matches findings to baseline entries as multisets: a key listed
// twice accepts two findings.
func compare(found []finding, base []entry) (newOnes []finding, stale, kept []entry) {
	avail := map[string][]entry{}
	for _, e := range base {
		avail[e.key] = append(avail[e.key], e)
	}
	for _, f := range found {
		k := f.key()
		if es := avail[k]; len(es) > 0 {
			kept = append(kept, es[0])
			avail[k] = es[1:]
			continue
		}
		newOnes = append(newOnes, f)
	}
	for _, e := range base {
		if es := avail[e.key]; len(es) > 0 {
			if es[0].optional {
				kept = append(kept, es[0])
				avail[e.key] = es[1:]
				continue
			}
			stale = append(stale, es[0])
			avail[e.key] = es[1:]
		}
	}
	return newOnes, stale, kept
}

func readBaseline(path string) ([]entry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []entry
	reason := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "reason:"):
			reason = strings.TrimSpace(strings.TrimPrefix(line, "reason:"))
		case strings.HasPrefix(line, "? "):
			out = append(out, entry{key: strings.TrimPrefix(line, "? "), reason: reason, optional: true})
		default:
			out = append(out, entry{key: line, reason: reason})
		}
	}
	return out, sc.Err()
}

// writeBaseline writes kept entries grouped under their reasons, in the
// order of the old file's reasons, then the new findings under TODO.
func writeBaseline(path string, kept []entry, newOnes []finding) error {
	var buf bytes.Buffer
	buf.WriteString(baselineHeader)
	var reasons []string
	byReason := map[string][]string{}
	for _, e := range kept {
		if _, ok := byReason[e.reason]; !ok {
			reasons = append(reasons, e.reason)
		}
		k := e.key
		if e.optional {
			k = "? " + k
		}
		byReason[e.reason] = append(byReason[e.reason], k)
	}
	for _, f := range newOnes {
		r := "TODO: review " + f.Rule + " (" + f.Message + ")"
		if _, ok := byReason[r]; !ok {
			reasons = append(reasons, r)
		}
		byReason[r] = append(byReason[r], f.key())
	}
	for _, r := range reasons {
		keys := byReason[r]
		sort.Strings(keys)
		fmt.Fprintf(&buf, "\nreason: %s\n", r)
		for _, k := range keys {
			buf.WriteString(k + "\n")
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// tool runs a tool pinned in tools/go.mod on the main module.
func tool(root string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", append([]string{"tool", "-modfile=" + filepath.Join(root, "tools", "go.mod")}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(out) > 0 {
		// Both analysers exit non-zero when they find something.
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", args[0], err, stderr.String())
	}
	return out, nil
}

func runGosec(root string) ([]finding, error) {
	out, err := tool(root, "gosec", "-quiet", "-fmt=json", "-exclude-generated", "./...")
	if err != nil {
		return nil, err
	}
	var rep struct {
		Issues []struct {
			RuleID  string `json:"rule_id"`
			Details string `json:"details"`
			File    string `json:"file"`
			Line    string `json:"line"`
		} `json:"Issues"`
		Errors map[string][]struct {
			Line  int    `json:"line"`
			Error string `json:"error"`
		} `json:"Golang errors"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("gosec: reading its report: %v", err)
	}
	for file, errs := range rep.Errors {
		for _, e := range errs {
			return nil, fmt.Errorf("gosec could not analyse %s:%d: %s", file, e.Line, e.Error)
		}
	}
	var fs []finding
	for _, is := range rep.Issues {
		line, _ := strconv.Atoi(strings.SplitN(is.Line, "-", 2)[0])
		f, err := locate(root, "gosec:"+is.RuleID, is.File, line, is.Details)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

func runStaticcheck(root string) ([]finding, error) {
	out, err := tool(root, "staticcheck", "-f", "json", "./...")
	if err != nil {
		return nil, err
	}
	var fs []finding
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var d struct {
			Code     string `json:"code"`
			Severity string `json:"severity"`
			Location struct {
				File string `json:"file"`
				Line int    `json:"line"`
			} `json:"location"`
			Message string `json:"message"`
		}
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("staticcheck: reading its report: %v", err)
		}
		if d.Code == "compile" {
			return nil, fmt.Errorf("staticcheck could not compile %s:%d: %s", d.Location.File, d.Location.Line, d.Message)
		}
		f, err := locate(root, "staticcheck:"+d.Code, d.Location.File, d.Location.Line, d.Message)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// locate reads the finding's source line, the part of its key that
// survives edits elsewhere in the file.
func locate(root, rule, file string, line int, msg string) (finding, error) {
	rel, err := filepath.Rel(root, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = file
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return finding{}, fmt.Errorf("%s: %v", rule, err)
	}
	lines := strings.Split(string(b), "\n")
	text := ""
	if line >= 1 && line <= len(lines) {
		text = strings.Join(strings.Fields(lines[line-1]), " ")
	}
	return finding{Rule: rule, File: filepath.ToSlash(rel), Text: text, Line: line, Message: msg}, nil
}
