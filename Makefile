# Passerelle. The two commands a new user needs: `make demo` and `make test`.
GO       ?= go
# Fuzz budget per target. make test uses an execution count: a duration
# (-fuzztime=3s) trips Go 1.26's coordinator race (golang/go#75804) and fails
# with a bare "context deadline exceeded" under load, with no crasher.
FUZZTIME ?= 10000x
BIN      := bin/passerelle
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all build deps test test-long test-ejabberd test-cluster unit fuzz check bench stress demo clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/passerelle

# deps installs the real peers the tests use (Prosody, Postfix's smtp-source
# and smtp-sink, swaks, GnuPG, sqop, slixmpp) when they are missing.
deps:
	bash scripts/deps.sh

# The long end-to-end scenarios: two federating Prosody servers (peer route),
# hub and client with SIGKILLs (relay mode), the crash tests under load and
# the 25 MB mail. They take about half of the end-to-end time, so they have
# their own target, which CI (.ci/run) runs right after `make test`.
E2E_LONG := ^(TestPeerRoute|TestRelayMode|TestCrashLosesNothing|TestOMEMOCrashLosesNothing|TestForwardLargeMail)$$
# The shared-queue scenario (three nats-server nodes, two passerelle nodes,
# SIGKILLs): its own target, run by CI after make test-long.
E2E_CLUSTER := ^TestSharedQueueCluster$$

# test: unit and end-to-end tests against real peers, with the race detector,
# then every fuzz target briefly. `make test-long` runs the long scenarios.
test: deps
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -count=1 -timeout 9m -skip 'Ejabberd' $$($(GO) list ./... | grep -v -e /e2e -e /internal/ejabberdtest)
	@echo "end-to-end tests against real Prosody, Postfix, swaks, GnuPG and python3-omemo (verbose: they report what they measured)"
	$(GO) test -race -shuffle=on -count=1 -timeout 9m -v -skip '$(E2E_LONG)|$(E2E_CLUSTER)' ./e2e/
	bash scripts/fuzz.sh $(FUZZTIME)

# test-long: the long end-to-end scenarios (see E2E_LONG); CI runs it after
# `make test`.
test-long: deps
	$(GO) test -race -count=1 -timeout 15m -v -run '$(E2E_LONG)' ./e2e/

# The end-to-end tests that run against whichever XMPP server startXMPP
# (e2e/xmppserver_test.go) starts: every forward and reverse test, and the
# inbound-verification and submission ones.
E2E_EJABBERD := ^(TestForward|TestReverse|TestInbound|TestSubmission)

# test-cluster: the shared queue on NATS JetStream end to end (README, "More
# than one node"): a three-node nats-server cluster (R3, one node killed once),
# two passerelle nodes under smtp-source load, one of them SIGKILLed three
# times; counts accepted, delivered, duplicates, lost and DSNs.
test-cluster: deps
	$(GO) test -race -count=1 -timeout 15m -v -run '$(E2E_CLUSTER)' ./e2e/

# test-ejabberd: internal/ejabberdtest's own tests and the unit-level
# *Ejabberd* tests (make test skips those), then E2E_EJABBERD with
# PASSERELLE_XMPP_SERVER=ejabberd: against private ejabberd 23.01 instances
# made from deploy/ejabberd/ejabberd.yml instead of Prosody.
# scripts/deps-ejabberd.sh installs ejabberd without letting its system
# service start. CI (.ci/run) runs it after `make test-long`.
test-ejabberd: deps
	bash scripts/deps-ejabberd.sh
	$(GO) test -race -count=1 -timeout 5m -v ./internal/ejabberdtest/
	$(GO) test -race -count=1 -timeout 5m -run 'Ejabberd' $$(grep -rl --include='*_test.go' '^func Test[A-Za-z0-9_]*Ejabberd' . | xargs -n1 dirname | sort -u)
	PASSERELLE_XMPP_SERVER=ejabberd $(GO) test -race -count=1 -timeout 15m -v -run '$(E2E_EJABBERD)' ./e2e/

unit:
	$(GO) test -short -count=1 ./...

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

check:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

# bench: the micro-benchmarks of every package, then passerelle against a
# throwaway Postfix 3.7 relay and passerelle on the shared queue (a 3-node
# nats-server cluster, R3) on the same smtp-source load in the same run
# (e2e/vspostfix_bench_test.go, e2e/vsshared_bench_test.go; PASSERELLE_BENCH_N, _ROUNDS, _SIZE,
# _LATENCY_N, _CPUPROFILE tune it), then the forward-path load benchmark
# (e2e/bench_test.go: alice's client decrypting every message), then the
# memory rows (e2e/memory_bench_test.go: the gateway's peak RSS growth for
# one 25 MB mail each way, RSS of idle SMTP connections). They print
# markdown tables. They need PASSERELLE_BENCH=1, so `make test` never runs
# them.
bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem $$($(GO) list ./... | grep -v '/e2e$$')
	PASSERELLE_BENCH=1 $(GO) test -run='^$$' -bench='VsPostfix|ForwardLoad' -benchtime=1x -count=1 -timeout 60m ./e2e/
	PASSERELLE_BENCH=1 $(GO) test -run='^TestMemory' -count=1 -v -timeout 20m ./e2e/

stress: deps
	PASSERELLE_STRESS=1 $(GO) test -count=1 -timeout 60m -run 'Stress|Crash' -v ./e2e/

demo: deps build
	bash scripts/demo.sh

clean:
	rm -rf bin demo
