// Command optin-loadgen signs Twilio webhooks and drives realistic load at
// an optin-gateway, for benchmarks.
//
//	optin-loadgen run   --target URL --token T [--rate R | --concurrency C] …
//	optin-loadgen bench --gateway-bin PATH [--duration 20s] [--out bench]
//
// run measures one route of a running gateway; bench starts a private
// redis-server (appendfsync always) and the gateway, measures the hello,
// baseline and webhook routes in one run and writes bench/report.json and
// a latency plot.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the load generator's GOGC when the environment sets none.
// Its own GC cycles (every ~0.2 s at Go's default under open-loop load)
// delay the requests it sends and the replies it reads, and it measures
// from each request's due time, so they counted against the server.
const gcPercent = 800

// openLoopProcs is the load generator's GOMAXPROCS while an open loop
// sends. One P is plenty for a rate (~80 µs of CPU a request) and spares
// the machine the other P's spinning and the wake-ups between the two:
// make bench's open loop cost ~85 µs of CPU a request with two.
const openLoopProcs = 1

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "optin-loadgen:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: optin-loadgen <command> [flags]

commands:
  run    drive load at one route of a running gateway and print the figures
  bench  start Redis and the gateway, measure hello, baseline and the webhook, write a report
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "run":
		return runRun(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
