# daprshop. `make run` runs the whole system, `make test` runs every test.
# Everything built lands under out/ (git-ignored).

SHELL := /bin/sh

# The knobs, and how what the targets need is built: the targets below
# use their variables, so they come first. Then the targets users type.
include mk/knobs.mk mk/build.mk mk/kubernetes.mk

.DEFAULT_GOAL := build

.PHONY: FORCE monitoring-check token listen devissuer traceview backends postgres-rabbitmq nats-trust soak kubernetes cluster-images controlplane k8s-e2e k8s-e2e-prepare k8s-e2e-images k8s-packages fuzz vm-e2e vm-e2e-prepare help build services daprd check-daprd sentry cli packages run test selfhosted-hosts unit contracts e2e rc-check matrix bench images k8s-check k8s-validate repro clean

# Every target, from the comments above their rules, and every knob, with
# its default and what it does.
help:
	@go run ./tests/cmd/help

# Runs the system in the foreground through `dapr run -f`; Ctrl-C stops it.
# BACKEND=postgres-rabbitmq runs it on PostgreSQL and RabbitMQ (as root);
# RUN_SECURED=true runs it as production does: tokens, an issuer of
# clients' tokens (make token), NATS in JWT mode, mTLS from a sentry, and
# every request traced to a viewer on http://127.0.0.1:16686.
run: build $(if $(filter true,$(RUN_SECURED)),devissuer traceview sentry)
	bash deploy/selfhosted/run.sh

# Shows CUSTOMER's notifications (CUSTOMER=c-1) as they arrive on NATS,
# as that customer's client gets them: with NATS credentials issued for
# the customer's token under RUN_SECURED=true make run, without any
# otherwise. Ctrl-C stops it.
listen:
	@go run ./tools/listen -customer '$(CUSTOMER)'

# Prints a token from the development issuer of `RUN_SECURED=true make
# run`, for CUSTOMER (CUSTOMER=c-1), or an operator's (ROLE=operator):
#   curl -H "Authorization: Bearer $(make -s token CUSTOMER=c-1)" ...
token:
	@curl -sS --fail-with-body --get --data-urlencode "customer=$(CUSTOMER)" --data-urlencode "role=$(ROLE)" \
		http://127.0.0.1:8088/token; rc=$$?; \
	if [ $$rc -eq 7 ]; then echo "make token: nothing serves tokens on 127.0.0.1:8088: start RUN_SECURED=true make run first" >&2; fi; \
	exit $$rc

# Everything CI runs: vet, unit tests, the end-to-end tests on real daprd,
# Redis and NATS (each test run in a network namespace of its own), the
# self-hosted multi-host run, make run on both backend profiles (built
# first, with everything make run builds), and, as root, the machines of vm-e2e and
# deploy/k8s on the one-node Kubernetes cluster (k8s-e2e); and the
# Kubernetes manifests' checks. The two longest suites, e2e and the
# cluster's, are listed first so that they start first, side by side.
# Then a short soak of 3,000 orders (a minute), alone, since its invariants
# compare figures measured at the start and at the end of its run: with
# other suites beside it the machine's load would change between the two.
test: packages k8s-packages build sentry $(PREVIOUS_DAPRD) $(PREVIOUS_SENTRY) k8s-validate k8s-e2e-images $(DAPR_CHART) $(PROMTOOL)
	go vet ./...
	go test -race -count=1 -timeout 30m ./tests/e2e ./tests/k8s $$(go list ./... | grep -v -e /tests/bench$$ -e /tests/e2e$$ -e /tests/k8s$$ -e /tests/soak$$)
	SOAK_ORDERS=3000 go test -count=1 -timeout 5m ./tests/soak/

# deploy/monitoring's alerts and dashboard: promtool checks the rules and
# runs their tests (each alert fired by series that must fire it, and not
# by others), and every dashboard query parses (make test runs it too).
monitoring-check: $(PROMTOOL)
	go test -count=1 -v ./deploy/monitoring/

# deploy/selfhosted alone, verbose: the units verified, and the system on
# four network-namespace hosts started from them (make test runs it too).
selfhosted-hosts: packages daprd sentry
	go test -count=1 -timeout 10m -v ./tests/hosts/

# The unit tests: the domain, the handlers in process, the fakes, and
# notification's NATS side on a real nats-server; no daprd.
unit: packages $(PROMTOOL)
	go test -race -count=1 $$(go list ./... | grep -v -e /tests/ -e $(CONTRACT_PACKAGES))

# The adapters' contracts: each service's Dapr adapter against a real
# sidecar, on the BACKEND profile's servers.
CONTRACT_PACKAGES := '/internal/dapr$$'
contracts: packages daprd
	go test -race -count=1 $$(go list ./... | grep $(CONTRACT_PACKAGES))

# The end-to-end suite alone, verbose; writes out/e2e/report.json, report.md,
# report.html (with its screenshot report.png) and junit.xml (E2E_OUT=dir to
# write them elsewhere).
# E2E_RUN=REGEXP runs only the scenarios (tests) it matches;
# BACKEND=postgres-rabbitmq runs them on PostgreSQL and RabbitMQ (as root);
# E2E_COUNT=N runs each N times, the report giving each invariant's failure
# rate (20 minutes allowed for each round).
e2e: packages daprd
	@case "$(E2E_COUNT)" in ''|*[!0-9]*|0*) echo "E2E_COUNT=$(E2E_COUNT): want a whole number of runs, 1 or more" >&2; exit 2 ;; esac
	go test -count=$(E2E_COUNT) -timeout $$((20 * $(E2E_COUNT)))m -v -run '$(value E2E_RUN)' ./tests/e2e/

# The backend profiles side by side, as root (make test runs it too):
# order's sidecar on components/ (Redis) and on components/postgres-rabbitmq/
# (PostgreSQL and RabbitMQ, from Debian), what each does with ETags,
# first-write, TTLs, transactions and their outbox events, and whether it
# stops cleanly; writes out/backends/report.json, .md, .html.
backends: packages daprd
	go test -count=1 -timeout 10m -v ./tests/backends/

# The second backend profile, as root: the adapters' contracts and the
# end-to-end suite on PostgreSQL and RabbitMQ (BACKEND=postgres-rabbitmq),
# the suite's report in out/e2e-postgres-rabbitmq. CI runs it after make
# test, which it would take past 15 minutes (about 9 more).
postgres-rabbitmq: packages daprd
	BACKEND=postgres-rabbitmq go test -count=1 -timeout 10m $$(go list ./... | grep $(CONTRACT_PACKAGES))
	BACKEND=postgres-rabbitmq E2E_OUT=$(OUT)/e2e-postgres-rabbitmq E2E_LOGS=$(OUT)/e2e-postgres-rabbitmq/logs \
		go test -count=1 -timeout 20m -v ./tests/e2e/

# A verdict on a daprd against the last release: the suite, the adapters'
# contracts and a 3,000-order soak on both, then the latency scenarios
# (invocation, state save, get and transaction, publish to delivery, one
# at a time) RC_ROUNDS more times on each, interleaved; every scenario's
# latencies compared by a statistical test. Writes out/rc-check/compare.md,
# compare.json and compare.html, and fails when the candidate regressed.
#   make rc-check CANDIDATE=/path/to/daprd          # or a version, v1.18.2
#   make rc-check CANDIDATE=v1.18.2 BASE=v1.17.5    # BASE: version, daprd, or a report.json
# Without BASE, the baseline is the newest release in tools/daprd/releases
# before the candidate's version.
# RC_SUITE=false skips the suites, contracts and soak: the latency
# comparison alone. RC_PLATFORMS="selfhosted vms k8s" (the default as root)
# also runs make vm-e2e and make k8s-e2e on each side: the machines, and
# the cluster, installed with BASE's release, upgraded under load to the
# side's (the cluster: its release's control plane, or BASE's for a daprd
# binary, and its daprd) and rolled back; each platform's reports compared
# in a section of their own. Adding postgres-rabbitmq to RC_PLATFORMS (as
# root) runs the contracts and the suite again on PostgreSQL and RabbitMQ,
# a section of its own (about 13 minutes more a side).
rc-check: packages
	go run ./tests/cmd/rc-check -candidate "$(CANDIDATE)" -base "$(BASE)" -rounds $(RC_ROUNDS) -suite=$(RC_SUITE) -platforms "$(RC_PLATFORMS)" -out $(OUT)/rc-check

# The suite on several daprd versions, side by side (out/matrix/matrix.md,
# .json, .html), each compared with the one before it; VERSIONS: versions,
# daprd binaries or report.json files, oldest first (default: every release
# in tools/daprd/releases); MATRIX_BACKENDS: the backend profiles, each
# version run on each (version x profile).
matrix: packages
	go run ./tests/cmd/rc-check -matrix "$(VERSIONS)" -backends "$(MATRIX_BACKENDS)" -out $(OUT)/matrix

# The smallest reproduction of one Dapr defect the suite found, by its name
# in docs/findings.md (FINDING=name; alone, it lists them), on the daprd
# DAPRD or DAPR_VERSION names.
repro:
	go run ./tests/cmd/repro "$(FINDING)"

# The benchmark: pipeline at a fixed rate and at saturation, the sidecar's
# overhead next to direct calls, the apps' own share. Prints its tables and
# writes out/bench/report.json, .md and .html in the one report format (its
# phases as scenarios, its figures as their measurements), which rc-check
# reads as a BASE or CANDIDATE. BACKEND=postgres-rabbitmq runs it on
# PostgreSQL and RabbitMQ (as root), the direct calls on them too.
bench: packages daprd
	go test -count=1 -timeout 20m -v ./tests/bench/

# A long run at a steady rate (SOAK_ORDERS orders at SOAK_RATE a second)
# against the real system, measured in tenths, its invariants "flat" and
# "bounded"; writes out/soak/report.json, .md, .html.
soak: packages daprd
	go test -count=1 -timeout 0 -v ./tests/soak/

# A deployment's NATS keys, made once (notification nats-trust): under
# out/nats-trust, nats-server/ for the NATS server's configuration to
# include and notification/ for notification (deploy/selfhosted/README.md,
# deploy/k8s/README.md). It refuses to replace keys it made before.
nats-trust:
	go run ./services/notification nats-trust $(OUT)/nats-trust

# Every fuzz target for FUZZ_TIME each: the decoders and validators that take
# what clients and brokers send, and token verification. make test runs
# their seeds and kept inputs only (ordinary test cases, deterministic);
# CI (.ci/run) runs make fuzz after it, a bounded random search. A failing
# input found is kept under the package's testdata/fuzz (tools/fuzz.sh).
FUZZ_TARGETS := ./internal/auth:FuzzVerify ./internal/auth:FuzzVerifyClaims ./internal/web:FuzzDecodeJSON ./internal/ids:FuzzValid ./services/order:FuzzPlaceOrder \
	./services/inventory:FuzzRestock ./services/inventory:FuzzReservation \
	./services/notification:FuzzOrderEvent ./services/notification:FuzzDeadLetter
fuzz:
	@sh tools/fuzz.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

# Removes out/, everything the targets built and wrote.
clean:
	rm -rf $(OUT)

# deploy/selfhosted on four booted Debian machines (systemd-nspawn, as root,
# in a network namespace of its own): install.sh on each, every process
# started by systemd, the suite's invariants checked against them, an
# upgrade from the release before (PREVIOUS_RELEASE's sentry and daprd,
# built here) and back, and the fresh install rolled back to it. Writes
# out/vm-e2e/report.json, .md, .html. The machines' image is built once with
# debootstrap under out/vm/. BACKEND=postgres-rabbitmq runs PostgreSQL and
# RabbitMQ on the backends machine and installs with --backend (its report
# in out/vm-e2e-postgres-rabbitmq/).
vm-e2e: vm-e2e-prepare
	go test -count=1 -timeout 20m -v ./tests/vms/

# Everything make vm-e2e runs on, with the same knobs, built, without
# running the suite: rc-check prepares the machines' run first, as it does
# the cluster's (k8s-e2e-prepare).
vm-e2e-prepare: packages daprd sentry $(PREVIOUS_DAPRD) $(PREVIOUS_SENTRY) $(RELEASE_SENTRY)

# The checks of deploy/k8s that need no API server: the images, what every
# rendered overlay intends, and the Dapr resources it shares with
# self-hosted. A quick look while editing manifests; make test runs
# k8s-validate, which does all of it and more.
k8s-check: images
	cd tools/k8s && go vet ./... && go test -count=1 -timeout 10m -skip '^TestAPIServer' ./...

# Everything k8s-check does, and a real kube-apiserver (on Debian's etcd,
# with the Dapr CRDs of the pinned runtime) accepting every object of every
# overlay. Part of make test. Building kube-apiserver from Go modules is the
# longest step of a cold make test (about 6 minutes on 2 cores).
k8s-validate: images $(if $(KUBE_APISERVER),,$(BUILT_KUBE_APISERVER))
	sh tools/ensure-packages.sh etcd:etcd-server
	cd tools/k8s && go vet ./... && go test -count=1 -timeout 10m ./...

# daprshop on the one-node cluster (as root, in a namespace of its own):
# Dapr installed from its chart (K8S_E2E_DAPR_VERSION's control plane,
# chart and CRDs; the sidecars run the daprd under test), the dev overlay
# applied, the suite's invariants and the Kubernetes faults; writes
# its report to K8S_E2E_OUT. With K8S_E2E_UPGRADE_FROM, the cluster starts
# on that release, is upgraded to what is under test under load after the
# happy path, and is rolled back to it under load at the end. With
# BACKEND=postgres-rabbitmq, the overlays with deploy/k8s/backends/'s
# Component, PostgreSQL and RabbitMQ on the node, outside the cluster, and
# the report in K8S_E2E_OUT-postgres-rabbitmq.
k8s-e2e: k8s-e2e-prepare
	go test -count=1 -timeout 30m -v ./tests/k8s/

# Everything make k8s-e2e runs on, with the same knobs, built and
# installed, without running the suite: rc-check prepares each platform's
# run first, so that no build runs beside the suites it then runs side by
# side.
k8s-e2e-prepare: packages k8s-packages k8s-e2e-images $(DAPR_CHART) $(UPGRADE_FROM_CHART)

FORCE:
