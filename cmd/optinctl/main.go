// Command optinctl is a command line over optin-gateway's admin API.
//
//	optinctl apply -f campaigns.yaml [--prune] [--dry-run]
//	optinctl get tenants|numbers|campaigns [ID]
//	optinctl subscriber show|history|export|opt-out|erase PHONE
//	optinctl tokens create|list|revoke
//
// Run `optinctl help` for the flags, environment variables and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Exit codes, as `optinctl help` and the README list them.
const (
	exitOK       = 0 // done
	exitFailure  = 1 // server error (5xx, 429, an unexpected answer) or network error
	exitUsage    = 2 // wrong command line, missing token or tenant, erase without --yes
	exitNotFound = 3 // 404
	exitAuth     = 4 // 401 or 403
	exitInvalid  = 5 // 400, or a campaigns file that is not valid
	exitConflict = 6 // 409
	exitDrift    = 7 // apply --dry-run found changes
)

const help = `optinctl: a command line over optin-gateway's admin API

usage: optinctl <command> [arguments] [flags]

commands:
  apply -f FILE [--prune] [--dry-run]
        make the server's tenants, campaigns and numbers what FILE (YAML, the
        tenants: list of config/example.yaml; - for stdin) says: prints the
        diff, then creates and updates; --prune also deletes the campaigns and
        numbers of the file's tenants that the file no longer lists;
        --dry-run prints the diff only (exit 7 when there is a change)
  get tenants [ID]                 list tenants (or show one)
  get campaigns [ID]               list the tenant's campaigns (or show one)
  get numbers [NUMBER]             list the tenant's numbers (or show one)
  subscriber show PHONE            consent state per campaign
  subscriber history PHONE         consent events, newest first
  subscriber export PHONE          everything held about PHONE, as JSON
  subscriber opt-out PHONE --reason TEXT [--campaign ID]
                                   opt PHONE out by hand (all campaigns by default)
  subscriber erase PHONE --yes     erase PHONE's data (refused without --yes)
  tokens create --role admin|support|auditor|sender|metrics [--name NAME]
                                   create a tenant token; it is shown only once
  tokens list                      list the tenant's tokens
  tokens revoke ID                 revoke a token
  help                             this text

flags (anywhere on the line):
  --url URL         the gateway (OPTIN_URL; default http://localhost:8080)
  --token TOKEN     bearer token (OPTIN_TOKEN, or OPTIN_TOKEN_FILE: a file holding it)
  -t, --tenant ID   tenant of get campaigns|numbers, subscriber and tokens (OPTIN_TENANT)
  -o, --output F    table (default) or json: the server's JSON, for scripts
  --reveal          show subscribers' phone numbers whole in tables (masked by default)
  --reason TEXT     why, sent as X-Optin-Reason with subscriber commands (required for opt-out)
  --campaign ID     opt-out: only this campaign
  --yes             confirm erase

exit codes:
  0  ok (apply --dry-run: no change)
  1  server or network error
  2  usage error
  3  not found (404)
  4  unauthorized or forbidden (401, 403)
  5  validation error (400, or an invalid campaigns file); the field is printed
  6  conflict (409)
  7  apply --dry-run found changes
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake on the command line: exit code 2.
type usageError string

func (e usageError) Error() string { return string(e) }

func usagef(format string, a ...any) error { return usageError(fmt.Sprintf(format, a...)) }

// errDrift is apply --dry-run's finding that the server differs from the file.
var errDrift = errors.New("the server differs from the file")

// exitCode maps err to the documented exit code.
func exitCode(err error) int {
	var (
		ue usageError
		fe *fileError
		ae *APIError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errDrift):
		return exitDrift
	case errors.As(err, &ue), errors.Is(err, flag.ErrHelp):
		return exitUsage
	case errors.As(err, &fe):
		return exitInvalid
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusNotFound:
			return exitNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitAuth
		case http.StatusBadRequest:
			return exitInvalid
		case http.StatusConflict:
			return exitConflict
		}
	}
	return exitFailure
}

// options are the flags of every command.
type options struct {
	url, token, tenant, output string
	reveal, yes, prune, dryRun bool
	reason, campaign, file     string
	role, name                 string
}

// cli is one invocation: its options, its client and its streams.
type cli struct {
	options
	api            *Client
	stdin          io.Reader
	stdout, stderr io.Writer
}

// run is the whole program: it returns the exit code. main only wires the
// process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := runErr(ctx, args, getenv, stdin, stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errDrift):
	case err != nil:
		fmt.Fprintln(stderr, "optinctl:", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "run `optinctl help` for usage")
		}
	}
	return exitCode(err)
}

// flagsOf lists the flags each command accepts beside the global ones.
var flagsOf = map[string][]string{
	"apply":              {"f", "file", "prune", "dry-run"},
	"subscriber show":    {"reveal", "reason"},
	"subscriber history": {"reveal", "reason"},
	"subscriber export":  {"reason"},
	"subscriber opt-out": {"reveal", "reason", "campaign"},
	"subscriber erase":   {"reason", "yes"},
	"tokens create":      {"role", "name"},
	"get tenants":        nil,
	"get campaigns":      nil,
	"get numbers":        nil,
	"tokens list":        nil,
	"tokens revoke":      nil,
}

var globalFlags = []string{"url", "token", "t", "tenant", "o", "output"}

func runErr(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{options: options{output: "table"}, stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("optinctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for names, v := range map[string]*string{
		"url": &c.url, "token": &c.token, "tenant t": &c.tenant, "output o": &c.output, "reason": &c.reason,
		"campaign": &c.campaign, "file f": &c.file, "role": &c.role, "name": &c.name,
	} {
		for _, name := range strings.Fields(names) {
			fs.StringVar(v, name, *v, "")
		}
	}
	for name, v := range map[string]*bool{"reveal": &c.reveal, "yes": &c.yes, "prune": &c.prune, "dry-run": &c.dryRun} {
		fs.BoolVar(v, name, false, "")
	}

	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) || (err == nil && (len(pos) == 0 || pos[0] == "help")) {
		fmt.Fprint(stdout, help)
		if len(pos) == 0 && err == nil {
			return usageError("no command")
		}
		return nil
	}
	if err != nil {
		return usageError(err.Error())
	}

	cmd := pos[0]
	switch cmd {
	case "apply":
	case "get", "subscriber", "tokens":
		if len(pos) == 1 {
			return usagef("%s: which one? see `optinctl help`", cmd)
		}
		cmd += " " + pos[1]
	default:
		return usagef("unknown command %q", cmd)
	}
	allowed, ok := flagsOf[cmd]
	if !ok {
		return usagef("%s: unknown subcommand %q", pos[0], pos[1])
	}
	var stray []string
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(globalFlags, f.Name) && !slices.Contains(allowed, f.Name) {
			stray = append(stray, "--"+f.Name)
		}
	})
	if len(stray) > 0 {
		return usagef("%s: %s does not apply here", cmd, strings.Join(stray, ", "))
	}
	if c.output != "table" && c.output != "json" {
		return usagef("-o %s: must be table or json", c.output)
	}
	if err := c.connect(getenv); err != nil {
		return err
	}

	switch pos[0] {
	case "apply":
		return c.apply(ctx, pos[1:])
	case "get":
		return c.get(ctx, pos[1], pos[2:])
	case "subscriber":
		return c.subscriber(ctx, pos[1], pos[2:])
	default: // tokens
		return c.tokens(ctx, pos[1], pos[2:])
	}
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments, which it returns in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// connect settles the server URL and token from the flags and environment.
func (c *cli) connect(getenv func(string) string) error {
	raw := c.url
	if raw == "" {
		raw = getenv("OPTIN_URL")
	}
	if raw == "" {
		raw = "http://localhost:8080"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return usagef("--url/OPTIN_URL %q: must be an http or https URL such as http://localhost:8080", raw)
	}
	if c.tenant == "" {
		c.tenant = getenv("OPTIN_TENANT")
	}
	token := c.token
	if token == "" {
		tok, file := getenv("OPTIN_TOKEN"), getenv("OPTIN_TOKEN_FILE")
		switch {
		case tok != "" && file != "":
			return usageError("OPTIN_TOKEN and OPTIN_TOKEN_FILE are both set; set only one")
		case tok != "":
			token = tok
		case file != "":
			b, err := os.ReadFile(file)
			if err != nil {
				return usagef("OPTIN_TOKEN_FILE: %v", err)
			}
			if token = strings.TrimRight(string(b), "\r\n"); token == "" {
				return usagef("OPTIN_TOKEN_FILE: %s is empty", file)
			}
		}
	}
	if token == "" {
		return usageError("no token: set --token, OPTIN_TOKEN or OPTIN_TOKEN_FILE")
	}
	c.api = &Client{
		BaseURL: strings.TrimRight(u.String(), "/"),
		Token:   token,
		HTTP:    &http.Client{Timeout: time.Minute},
	}
	return nil
}

// needTenant returns the tenant of a tenant-scoped command.
func (c *cli) needTenant(cmd string) (string, error) {
	if c.tenant == "" {
		return "", usagef("%s: which tenant? set --tenant (-t) or OPTIN_TENANT", cmd)
	}
	return c.tenant, nil
}

// args checks that a command got between min and max positional arguments.
func args(cmd string, a []string, min, max int, what string) error {
	switch {
	case len(a) < min:
		return usagef("%s: missing %s", cmd, what)
	case len(a) > max:
		return usagef("%s: unexpected argument %q", cmd, a[max])
	}
	return nil
}
