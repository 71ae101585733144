# daprshop's knobs, and the Dapr version it pins; included by the Makefile.

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
RUN_SECURED ?= false
CUSTOMER ?=
ROLE ?=
SERVICES_DIR ?=
E2E_RUN ?= .
E2E_COUNT ?= 1
E2E_OUT ?= out/e2e
E2E_LOGS ?= out/e2e/logs
E2E_LOAD_DURATION ?= 10s
E2E_BREAK ?=
K8S_E2E_DAPR_VERSION ?= $(PINNED_DAPR_VERSION)
K8S_E2E_OUT ?= out/k8s-e2e
K8S_E2E_UPGRADE_FROM ?=
K8S_E2E_FAULT_OVERLAYS ?= dev production
FINDING ?=
CANDIDATE ?= $(PINNED_DAPR_VERSION)
BASE ?=
RC_ROUNDS ?= 5
RC_SUITE ?= true
RC_PLATFORMS ?= $(if $(filter 0,$(shell id -u)),selfhosted vms k8s,selfhosted)
VERSIONS ?= releases
MATRIX_BACKENDS ?= redis
VM_E2E_OUT ?= out/vm-e2e
VM_E2E_UPGRADE_FROM ?=
FUZZ_TIME ?= 10s
IMAGE_REGISTRY ?=
REPORT_SAMPLE_OUT ?=
SOAK_ORDERS ?= 100000
SOAK_OUT ?= out/soak
SOAK_RATE ?= 50
export DAPRD DAPR_VERSION SENTRY KUBE_APISERVER BACKEND RUN_SECURED CUSTOMER ROLE SERVICES_DIR E2E_RUN E2E_COUNT E2E_OUT E2E_LOGS E2E_LOAD_DURATION E2E_BREAK K8S_E2E_DAPR_VERSION K8S_E2E_OUT K8S_E2E_UPGRADE_FROM K8S_E2E_FAULT_OVERLAYS \
	FINDING CANDIDATE BASE RC_ROUNDS RC_SUITE RC_PLATFORMS VERSIONS MATRIX_BACKENDS VM_E2E_OUT VM_E2E_UPGRADE_FROM FUZZ_TIME IMAGE_REGISTRY REPORT_SAMPLE_OUT SOAK_ORDERS SOAK_OUT SOAK_RATE
