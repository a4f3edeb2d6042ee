// Command optin-gateway runs the SMS double opt-in gateway and its operator
// subcommands.
//
//	optin-gateway serve --config FILE        run the gateway
//	optin-gateway send --from NUMBER TEXT…   post a signed Twilio webhook to it
//	optin-gateway healthcheck [--url URL]    exit 0 when /healthz answers 200
//	optin-gateway archive --config FILE      run the audit archiver on its own
//	optin-gateway audit verify|evidence      check the audit log, show one subscriber's consent record
//	optin-gateway rebuild --config FILE      restore consent state into an empty Redis from the audit log
//	optin-gateway incident report --since T  whose data a token or key touched, with the 72-hour deadline
//	optin-gateway version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "optin-gateway:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `usage: optin-gateway <command> [flags]

commands:
  serve        run the gateway (--config FILE)
  send         sign a webhook as Twilio would and post it to the gateway
  healthcheck  exit 0 when the gateway's /healthz answers 200
  archive      run the audit archiver on its own (--config FILE)
  audit        verify the audit log, or print a subscriber's consent evidence
  rebuild      restore every subscriber's consent state into an empty Redis
  keys         rotate: re-wrap every data key under the newest master key; status: data keys per key id
  incident     report --since T [--token ID | --key ID] [--reveal]: whose data was touched, and the 72 h deadline
  version      print the version
`

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch command(args) {
	case "serve":
		return runServe(ctx, args[1:], getenv, stderr)
	case "send":
		return runSend(ctx, args[1:], getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], stderr)
	case "archive":
		return runArchive(ctx, args[1:], getenv, stderr)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdout, stderr)
	case "rebuild":
		return runRebuild(ctx, args[1:], getenv, stdout, stderr)
	case "incident":
		return runIncident(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return badCommand(stderr, usage, "", args)
}

// command is args' command: its first argument, "" when there is none.
func command(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// badCommand prints usage to stderr and returns the usageError, its
// message after prefix, of args' command: missing or unknown.
func badCommand(stderr io.Writer, usage, prefix string, args []string) error {
	fmt.Fprint(stderr, usage)
	if len(args) == 0 {
		return usageError{prefix + "no command"}
	}
	return usageError{fmt.Sprintf("%sunknown command %q", prefix, args[0])}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("optin-gateway "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args into fs, turning a flag mistake into a usageError.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
