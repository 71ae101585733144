# daprshop. `make run` runs the whole system, `make test` runs every test.
# Everything built lands under out/ (git-ignored).

SHELL := /bin/sh

PINNED_DAPR_VERSION := $(shell sed -n 's/^require github.com\/dapr\/dapr \(v.*\)$$/\1/p' tools/daprd/go.mod)

# The knobs: `make help` says what each does (tests/harness/knobs lists
# them, and a test checks this block against that list). Each is taken from
# make's command line or the environment and exported, so the tests read
# the same value whether started by make or by go test.
DAPRD ?=
DAPR_VERSION ?= $(PINNED_DAPR_VERSION)
SENTRY ?=
KUBE_APISERVER ?=
BACKEND ?= redis
SERVICES_DIR ?=
E2E_RUN ?= .
E2E_COUNT ?= 1
E2E_OUT ?= out/e2e
E2E_LOGS ?= out/e2e/logs
E2E_LOAD_DURATION ?= 10s
E2E_BREAK ?=
FINDING ?=
CANDIDATE ?= $(PINNED_DAPR_VERSION)
BASE ?=
RC_ROUNDS ?= 5
RC_SUITE ?= true
VERSIONS ?= releases
FUZZ_TIME ?= 10s
IMAGE_REGISTRY ?=
REPORT_SAMPLE_OUT ?=
SOAK_ORDERS ?= 100000
SOAK_RATE ?= 50
export DAPRD DAPR_VERSION SENTRY KUBE_APISERVER BACKEND SERVICES_DIR E2E_RUN E2E_COUNT E2E_OUT E2E_LOGS E2E_LOAD_DURATION E2E_BREAK \
	FINDING CANDIDATE BASE RC_ROUNDS RC_SUITE VERSIONS FUZZ_TIME IMAGE_REGISTRY REPORT_SAMPLE_OUT SOAK_ORDERS SOAK_RATE

OUT := out
# A runtime directory in the layout the dapr CLI expects (DAPR_RUNTIME_PATH).
RUNTIME := $(OUT)/dapr/$(DAPR_VERSION)
BUILT_DAPRD := $(RUNTIME)/.dapr/bin/daprd
DAPR_CLI := $(OUT)/bin/dapr
CLI_VERSION := $(shell sed -n 's/^require github.com\/dapr\/cli v\(.*\)$$/\1/p' tools/dapr-cli/go.mod)

GO_BUILD := CGO_ENABLED=0 go build -trimpath

# Kubernetes at the version tools/kubernetes pins, with that version
# stamped in (no debug information: smaller binaries, linked faster).
KUBE_VERSION := $(shell sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\)$$/\1/p' tools/kubernetes/go.mod)
KUBE_VERSION_PARTS := $(subst ., ,$(KUBE_VERSION:v%=%))
KUBE_BIN := $(OUT)/kubernetes
BUILT_KUBE_APISERVER := $(KUBE_BIN)/kube-apiserver
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(KUBE_VERSION_PARTS)) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(KUBE_VERSION_PARTS))

.PHONY: FORCE backends postgres-rabbitmq nats-trust soak kubernetes cluster-images controlplane k8s-e2e k8s-e2e-images k8s-packages fuzz vm-e2e help build services daprd check-daprd sentry cli packages run test selfhosted-hosts unit e2e rc-check matrix bench images k8s-check k8s-validate repro clean

build: services daprd cli

# Every knob, with its default and what it does.
help:
	@echo 'make run | test | unit | e2e | backends | postgres-rabbitmq | bench | soak | nats-trust | rc-check | matrix | repro | selfhosted-hosts | vm-e2e | k8s-e2e | fuzz | k8s-check | k8s-validate | images | build | kubernetes | cluster-images | controlplane | clean'
	@go run ./tests/cmd/knobs

services:
	go run ./tools/build/cmd/build -o $(OUT)/bin

# The daprd under test: built, or, when DAPRD names one, asked its version,
# so that a wrong path is one error before anything compiles (the suites
# check it the same way when run with go test).
daprd: $(if $(DAPRD),check-daprd,$(BUILT_DAPRD))

check-daprd:
	@sh tools/daprd/check.sh "$(DAPRD)"

# Any release's daprd, under out/dapr/VERSION: the one under test, and the
# release before it that make vm-e2e upgrades from.
$(OUT)/dapr/%/.dapr/bin/daprd: tools/daprd/go.mod tools/daprd/go.sum tools/daprd/main.go tools/daprd/build.sh
	sh tools/daprd/build.sh $* $(@D) $(abspath $(OUT))/src/daprd-$*
	@touch $@

# The newest release in tools/daprd/releases before the daprd under test
# (DAPRD's own version when it is set, else DAPR_VERSION): what make vm-e2e
# installs first, to upgrade it to the daprd under test.
UNDER_TEST_VERSION := $(if $(DAPRD),v$(shell timeout 5 "$(abspath $(DAPRD))" --version 2>/dev/null),$(DAPR_VERSION))
PREVIOUS_RELEASE := $(shell { grep '^v' tools/daprd/releases; echo $(UNDER_TEST_VERSION); } | sort -uV | awk -v v=$(UNDER_TEST_VERSION) '$$0 == v { exit } { p = $$0 } END { print p }')
PREVIOUS_DAPRD := $(if $(PREVIOUS_RELEASE),$(OUT)/dapr/$(PREVIOUS_RELEASE)/.dapr/bin/daprd)

# Dapr's certificate authority for mTLS, from the same pinned module as daprd
# (deploy/selfhosted installs it on the backends VM; tests/hosts runs it).
BUILT_SENTRY := $(OUT)/bin/sentry
sentry: $(if $(SENTRY),,$(BUILT_SENTRY))

$(BUILT_SENTRY): tools/daprd/go.mod tools/daprd/go.sum
	cd tools/daprd && $(GO_BUILD) -ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=$(PINNED_DAPR_VERSION:v%=%)" -o $(abspath $@) github.com/dapr/dapr/cmd/sentry

cli: $(DAPR_CLI)

$(DAPR_CLI): tools/dapr-cli/go.mod tools/dapr-cli/go.sum tools/dapr-cli/main.go
	cd tools/dapr-cli && $(GO_BUILD) -ldflags "-X main.version=$(CLI_VERSION)" -o $(abspath $@) .

# The services' container images, built without Docker: OCI image layouts
# under out/images/SERVICE, and out/k8s/OVERLAY, each overlay of deploy/k8s
# with the images pinned to the digests just built (pulled from
# IMAGE_REGISTRY/daprshop/SERVICE when IMAGE_REGISTRY is set).
images:
	go run -C tools/k8s ./cmd/images -root $(CURDIR) -out $(abspath $(OUT)) -registry "$(IMAGE_REGISTRY)"

# Kubernetes from Go modules: kube-apiserver (what make k8s-validate judges
# the manifests with), and the rest of the one-node cluster of make
# k8s-e2e: kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# kubectl, the pause container and a test server (echo). One build, since
# they share most packages; without optimisation, inlining or debug
# information (-N -l -dwarf=false), which saves compile time and costs the
# cluster nothing measurable (CoreDNS ready in 13.7 s against 13.5-14.3 s
# optimised): a cold build took 732 CPU-seconds against 804 optimised with
# a part of it cached. CoreDNS (tools/coredns) is a module of its own.
kubernetes: $(BUILT_KUBE_APISERVER) $(KUBE_BIN)/coredns

$(BUILT_KUBE_APISERVER): tools/kubernetes/go.mod tools/kubernetes/go.sum $(wildcard tools/kubernetes/cmd/*/*.go tools/kubernetes/internal/*/*.go)
	cd tools/kubernetes && $(GO_BUILD) -gcflags=all='-N -l -dwarf=false' -ldflags "$(KUBE_LDFLAGS)" -o $(abspath $(KUBE_BIN))/ ./cmd/...
	@touch $@

$(KUBE_BIN)/coredns: tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	cd tools/coredns && $(GO_BUILD) -o $(abspath $@) .

# The images the cluster itself runs (its pause container, CoreDNS, the
# test server of tests/harness/cluster), as OCI archives its containerd
# imports: what make test's cluster check needs.
COREDNS_VERSION := $(shell sed -n 's/^require github.com\/coredns\/coredns \(v[0-9.]*\)$$/\1/p' tools/coredns/go.mod)
CLUSTER_IMAGES := $(KUBE_BIN)/images
cluster-images: kubernetes
	go run -C tools/k8s ./cmd/cluster-images -out $(abspath $(CLUSTER_IMAGES)) \
		-image daprshop/pause:$(KUBE_VERSION:v%=%)=$(abspath $(KUBE_BIN)/pause) \
		-image daprshop/coredns:$(COREDNS_VERSION:v%=%)=$(abspath $(KUBE_BIN)/coredns) \
		-image daprshop/echo:1=$(abspath $(KUBE_BIN)/echo)

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

# Dapr's control plane at the pinned version (operator, placement, sentry,
# scheduler, injector), from tools/daprd's module, which lists them as
# tools: the same versions as daprd. One build, since they share most
# packages (cold about 6 CPU-minutes, warm under a second).
CONTROLPLANE_DIR := $(OUT)/dapr-controlplane
CONTROLPLANE := operator placement sentry scheduler injector
controlplane: $(CONTROLPLANE_DIR)/operator

$(CONTROLPLANE_DIR)/operator: tools/daprd/go.mod tools/daprd/go.sum
	cd tools/daprd && $(GO_BUILD) -ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=$(PINNED_DAPR_VERSION:v%=%)" \
		-o $(abspath $(CONTROLPLANE_DIR))/ $(addprefix github.com/dapr/dapr/cmd/,$(CONTROLPLANE))
	@touch $@

# nats-server built from Go modules, static: the test cluster's stand-in for
# the nats image the dev overlay names (no registry is reachable).
BUILT_NATS := $(OUT)/bin/nats-server
$(BUILT_NATS): tools/nats/go.mod tools/nats/go.sum
	cd tools/nats && $(GO_BUILD) -o $(abspath $@) github.com/nats-io/nats-server/v2

# Dapr's Helm chart at the pinned version, rendered offline by Helm's own
# engine with deploy/k8s/dapr-values.yaml and what the one-node test cluster
# adds (its images, never pulled; no volumes).
DAPR_IMAGE_REGISTRY := localhost/dapr
DAPR_CHART := $(OUT)/k8s-e2e/dapr.yaml
DAPR_CHART_CRDS := $(OUT)/k8s-e2e/dapr-crds.yaml
$(DAPR_CHART): FORCE
	go run -C tools/k8s ./cmd/dapr-chart -version $(PINNED_DAPR_VERSION) -registry $(DAPR_IMAGE_REGISTRY) \
		-daprd-tag $(UNDER_TEST_VERSION:v%=%) -values $(abspath deploy/k8s/dapr-values.yaml) -crds-out $(abspath $(DAPR_CHART_CRDS)) -out $(abspath $@)

# Every image make k8s-e2e's cluster runs, as OCI archives its containerd
# imports (no registry is reachable): the cluster's own, Dapr's control
# plane, the daprd under test (the sidecar), the dev overlay's Redis (Debian's)
# and NATS, and the services as make images built them (so the digests the
# pinned overlay names).
K8S_E2E_IMAGES := $(OUT)/k8s-e2e/images
K8S_DAPRD := $(OUT)/k8s-e2e/bin/daprd
k8s-e2e-images: images controlplane daprd $(BUILT_NATS) cluster-images
	rm -rf $(K8S_E2E_IMAGES) && mkdir -p $(K8S_E2E_IMAGES) $(dir $(K8S_DAPRD))
	cp $(CLUSTER_IMAGES)/*.tar $(K8S_E2E_IMAGES)/
	cp $(if $(DAPRD),$(DAPRD),$(BUILT_DAPRD)) $(K8S_DAPRD)
	go run -C tools/k8s ./cmd/cluster-images -out $(abspath $(K8S_E2E_IMAGES)) \
		$(foreach b,$(CONTROLPLANE),-image $(DAPR_IMAGE_REGISTRY)/$(b):$(PINNED_DAPR_VERSION:v%=%)=$(abspath $(CONTROLPLANE_DIR)/$(b))) \
		-image $(DAPR_IMAGE_REGISTRY)/daprd:$(UNDER_TEST_VERSION:v%=%)=$(abspath $(K8S_DAPRD)) \
		-image nats:2.10.22-alpine=$(abspath $(BUILT_NATS)) \
		-dynamic redis:7.4.1-alpine=/usr/bin/redis-server \
		$(foreach s,order inventory notification,-layout daprshop/$(s):0.1.0=$(abspath $(OUT)/images/$(s)))

# daprshop on the one-node cluster (as root, in a namespace of its own):
# Dapr installed from its chart, the dev overlay applied, the suite's
# invariants and the Kubernetes faults; writes out/k8s-e2e/report.json.
k8s-e2e: packages k8s-packages k8s-e2e-images $(DAPR_CHART)
	go test -count=1 -timeout 30m -v ./tests/k8s/

# What a Kubernetes node runs that comes from Debian.
k8s-packages:
	sh tools/ensure-packages.sh etcd:etcd-server containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
		iptables:iptables

# The Debian packages the tests need: the servers they start, the tools
# that give each run a network namespace of its own, systemd-analyze to
# check the units of deploy/selfhosted, the headless browser that checks
# report.html renders and screenshots it, and debootstrap and systemd-nspawn
# for the machines of make vm-e2e, and the servers of the second backend
# profile (make backends).
packages:
	sh tools/ensure-packages.sh redis-server:redis-server nats-server:nats-server unshare:util-linux ip:iproute2 \
		systemd-analyze:systemd chromium:chromium debootstrap:debootstrap systemd-nspawn:systemd-container \
		/usr/lib/postgresql/15/bin/postgres:postgresql-15 /usr/lib/rabbitmq/bin/rabbitmq-server:rabbitmq-server

# Runs the system in the foreground through `dapr run -f`; Ctrl-C stops it.
# BACKEND=postgres-rabbitmq runs it on PostgreSQL and RabbitMQ (as root).
run: build
	bash deploy/selfhosted/run.sh

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
test: packages k8s-packages build sentry $(PREVIOUS_DAPRD) k8s-validate k8s-e2e-images $(DAPR_CHART)
	go vet ./...
	go test -race -count=1 -timeout 30m ./tests/e2e ./tests/k8s $$(go list ./... | grep -v -e /tests/bench$$ -e /tests/e2e$$ -e /tests/k8s$$ -e /tests/soak$$)
	SOAK_ORDERS=3000 go test -count=1 -timeout 5m ./tests/soak/

# deploy/selfhosted alone, verbose: the units verified, and the system on
# four network-namespace hosts started from them (make test runs it too).
selfhosted-hosts: packages daprd sentry
	go test -count=1 -timeout 10m -v ./tests/hosts/

# The unit tests: the domain, the handlers in process, and the adapters'
# contracts on real sidecars (on the BACKEND profile's servers).
unit: packages daprd
	go test -race -count=1 $$(go list ./... | grep -v /tests/)

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
	BACKEND=postgres-rabbitmq go test -count=1 -timeout 10m $$(go list ./services/... | grep /internal/dapr$$)
	BACKEND=postgres-rabbitmq E2E_OUT=$(OUT)/e2e-postgres-rabbitmq E2E_LOGS=$(OUT)/e2e-postgres-rabbitmq/logs \
		go test -count=1 -timeout 20m -v ./tests/e2e/

# A verdict on a daprd against the last release: the suite on both, then
# the service-invocation latency scenario RC_ROUNDS more times on each,
# interleaved, compared by a statistical test; writes out/rc-check/compare.md,
# compare.json and compare.html, and fails when the candidate regressed.
#   make rc-check CANDIDATE=/path/to/daprd          # or a version, v1.18.2
#   make rc-check CANDIDATE=v1.18.2 BASE=v1.17.5    # BASE: version, daprd, or a report.json
# Without BASE, the baseline is the newest release in tools/daprd/releases
# before the candidate's version.
# RC_SUITE=false skips the suites: the latency comparison alone.
rc-check: packages
	go run ./tests/cmd/rc-check -candidate "$(CANDIDATE)" -base "$(BASE)" -rounds $(RC_ROUNDS) -suite=$(RC_SUITE) -out $(OUT)/rc-check

# The suite on several daprd versions, side by side (out/matrix/matrix.md,
# .json, .html), each compared with the one before it; VERSIONS: versions,
# daprd binaries or report.json files, oldest first (default: every release
# in tools/daprd/releases).
matrix: packages
	go run ./tests/cmd/rc-check -matrix "$(VERSIONS)" -out $(OUT)/matrix

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

clean:
	rm -rf $(OUT)

# deploy/selfhosted on four booted Debian machines (systemd-nspawn, as root,
# in a network namespace of its own): install.sh on each, every process
# started by systemd, the suite's invariants checked against them, and an
# upgrade from the release before (PREVIOUS_RELEASE, built here). Writes
# out/vm-e2e/report.json, .md, .html. The machines' image is built once with
# debootstrap under out/vm/. BACKEND=postgres-rabbitmq runs PostgreSQL and
# RabbitMQ on the backends machine and installs with --backend (its report
# in out/vm-e2e-postgres-rabbitmq/).
vm-e2e: packages daprd sentry $(PREVIOUS_DAPRD)
	go test -count=1 -timeout 20m -v ./tests/vms/

FORCE:
