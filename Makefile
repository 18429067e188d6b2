# gpfed: `make run` runs the demo federation end to end; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/gpfed
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
SERVICES := . scripts/services.sh &&
FUZZTIME ?= 20s

.PHONY: build run demo test test-short lint fuzz bench-sync bench-tasks clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gpfed

## run: the demo: a simulated federation, an initial sync, sample tasks, the dashboard.
run demo: build
	@$(SERVICES) ./$(BIN) demo

## test: vet, formatting, the race-enabled test suite and a short fuzz run, on real Postgres and Redis.
test: lint
	@$(SERVICES) $(GO) test -race -count=1 -timeout 40m ./...
	@$(SERVICES) $(GO) test -run '^$$' -fuzz FuzzParseSlotBundle -fuzztime $(FUZZTIME) ./internal/gpconnect/

test-short:
	@$(SERVICES) $(GO) test -short -count=1 ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseSlotBundle -fuzztime 5m ./internal/gpconnect/

## bench-sync: 6,500 simulated practices x 28 days (~460 free slots each) at 200 ms and 1 s median latency, beside the decode+COPY limit measured in the same run.
bench-sync: build
	@$(SERVICES) $(GO) run ./bench/sync

## bench-tasks: task delivery end to end vs raw asynq on the same Redis.
bench-tasks: build
	@$(SERVICES) $(GO) run ./bench/tasks

clean:
	rm -rf bin .tmp
