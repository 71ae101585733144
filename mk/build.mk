# How daprshop's binaries are built, and the Debian packages the targets
# need: included by the Makefile, whose own targets are the ones users type.

OUT := out
# A runtime directory in the layout the dapr CLI expects (DAPR_RUNTIME_PATH).
RUNTIME := $(OUT)/dapr/$(DAPR_VERSION)
BUILT_DAPRD := $(RUNTIME)/.dapr/bin/daprd
DAPR_CLI := $(OUT)/bin/dapr
CLI_VERSION := $(shell sed -n 's/^require github.com\/dapr\/cli v\(.*\)$$/\1/p' tools/dapr-cli/go.mod)

GO_BUILD := env CGO_ENABLED=0 go build -trimpath
# Each build step says what it built and how long it took, so that a first
# run, mostly building, says where its time went.
TIMED := sh $(CURDIR)/tools/timed.sh

# Every binary make run starts: the services, daprd and the dapr CLI.
build: services daprd cli

# The development issuer of RUN_SECURED=true make run (tools/devissuer).
devissuer:
	$(TIMED) devissuer go build -o $(OUT)/bin/devissuer ./tools/devissuer

# The trace viewer of RUN_SECURED=true make run (tools/traceview).
traceview:
	$(TIMED) traceview go build -o $(OUT)/bin/traceview ./tools/traceview

# The three services' binaries, under out/bin.
services:
	$(TIMED) "the services" go run ./tools/build/cmd/build -o $(OUT)/bin

# The daprd under test: built, or, when DAPRD names one, asked its version,
# so that a wrong path is one error before anything compiles (the suites
# check it the same way when run with go test).
daprd: $(if $(DAPRD),check-daprd,$(BUILT_DAPRD))

# Whether DAPRD names a daprd that answers --version (make daprd's check).
check-daprd:
	@sh tools/daprd/check.sh "$(DAPRD)"

# Any release's daprd, under out/dapr/VERSION: the one under test, and the
# release before it that make vm-e2e upgrades from.
$(OUT)/dapr/%/.dapr/bin/daprd: tools/daprd/go.mod tools/daprd/go.sum tools/daprd/main.go tools/daprd/build.sh
	$(TIMED) "daprd $*" sh tools/daprd/build.sh $* $(@D) $(abspath $(OUT))/src/daprd-$*
	@touch $@

# What make vm-e2e installs first, to upgrade it to the daprd under test
# and roll back to: VM_E2E_UPGRADE_FROM, or the newest release in
# tools/daprd/releases before the daprd under test (DAPRD's own version
# when it is set, else DAPR_VERSION).
UNDER_TEST_VERSION := $(if $(DAPRD),v$(shell timeout 5 "$(abspath $(DAPRD))" --version 2>/dev/null),$(DAPR_VERSION))
PREVIOUS_RELEASE := $(if $(VM_E2E_UPGRADE_FROM),$(VM_E2E_UPGRADE_FROM),$(shell { grep '^v' tools/daprd/releases; echo $(UNDER_TEST_VERSION); } | sort -uV | awk -v v=$(UNDER_TEST_VERSION) '$$0 == v { exit } { p = $$0 } END { print p }'))
PREVIOUS_DAPRD := $(if $(PREVIOUS_RELEASE),$(OUT)/dapr/$(PREVIOUS_RELEASE)/.dapr/bin/daprd)
PREVIOUS_SENTRY := $(if $(PREVIOUS_RELEASE),$(OUT)/dapr/$(PREVIOUS_RELEASE)/sentry/sentry)
# A release's sentry that SENTRY names (rc-check names each side's), built
# here as the one before is.
RELEASE_SENTRY := $(filter $(OUT)/dapr/%/sentry/sentry,$(SENTRY))

# Any release's sentry alone, under out/dapr/VERSION/sentry: the one make
# vm-e2e upgrades from and rolls back to, with its daprd.
$(OUT)/dapr/%/sentry/sentry: tools/daprd/go.mod tools/daprd/go.sum tools/daprd/build.sh tools/daprd/gomodfor/main.go
	$(TIMED) "sentry $*" sh tools/daprd/build.sh $* $(@D) $(abspath $(OUT))/src/daprd-$* sentry
	@touch $@

# Dapr's certificate authority for mTLS, from the same pinned module as daprd
# (deploy/selfhosted installs it on the backends VM; tests/hosts runs it).
BUILT_SENTRY := $(OUT)/bin/sentry
sentry: $(if $(SENTRY),,$(BUILT_SENTRY))

$(BUILT_SENTRY): tools/daprd/go.mod tools/daprd/go.sum
	cd tools/daprd && $(TIMED) sentry $(GO_BUILD) -ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=$(PINNED_DAPR_VERSION:v%=%)" -o $(abspath $@) github.com/dapr/dapr/cmd/sentry

# The dapr CLI make run starts the system with, from its Go module.
cli: $(DAPR_CLI)

$(DAPR_CLI): tools/dapr-cli/go.mod tools/dapr-cli/go.sum tools/dapr-cli/main.go
	cd tools/dapr-cli && $(TIMED) "the dapr CLI" $(GO_BUILD) -ldflags "-X main.version=$(CLI_VERSION)" -o $(abspath $@) .

# promtool, which checks deploy/monitoring's alerts, from Debian's
# prometheus package: unpacked into out/, not installed, since installing
# the package would start a Prometheus server on this machine.
PROMTOOL := out/promtool/usr/bin/promtool
$(PROMTOOL):
	rm -rf out/promtool && mkdir -p out/promtool
	cd out/promtool && $(TIMED) promtool apt-get download prometheus && dpkg-deb -x prometheus_*.deb . && rm prometheus_*.deb
	@test -x $@ || { echo "$@: not in Debian's prometheus package" >&2; exit 1; }

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
