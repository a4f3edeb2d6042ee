# Makefile: a few short targets. The README's test command is scripts/test.

BENCH_DURATION ?= 20s
BENCH_FLAGS ?=

.PHONY: build test bench audit clean

build:
	go build -o bin/optin-gateway ./cmd/optin-gateway
	go build -o bin/optin-loadgen ./cmd/optin-loadgen

test:
	scripts/test -race

# bench: a private redis-server (appendfsync always) and the gateway on free
# ports; hello, baseline and the webhook measured for BENCH_DURATION each,
# then the webhook open-loop at half its peak. Writes bench/report.json and
# bench/latency.svg; scratch (Redis data, logs, profiles) goes to bench/out/.
bench: build
	BENCH_DURATION=$(BENCH_DURATION) bin/optin-loadgen bench --gateway-bin bin/optin-gateway $(BENCH_FLAGS)

# audit: what CI runs (gosec and staticcheck against the reviewed baseline,
# go mod verify), then govulncheck, which needs its database (vuln.go.dev):
# where the machine cannot reach it, it fails saying so.
audit:
	go mod verify
	cd tools && go mod verify
	scripts/audit
	@go tool -modfile=tools/go.mod govulncheck ./... || { \
	  echo "make audit: govulncheck failed; if the lines above say it could not fetch vuln.go.dev, this machine cannot reach the vulnerability database and the module's dependencies were NOT checked for known vulnerabilities" >&2; exit 1; }

clean:
	rm -rf bin bench/out
