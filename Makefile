# Makefile: a few short targets. The README's test command is scripts/test.

BENCH_DURATION ?= 20s
BENCH_FLAGS ?=

.PHONY: build test bench clean

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

clean:
	rm -rf bin bench/out
