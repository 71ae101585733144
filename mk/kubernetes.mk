# How the Kubernetes targets' parts are built: Kubernetes itself, the
# cluster's images, Dapr's control plane and chart, the services' images,
# and what a node takes from Debian. Included by the Makefile.

# Kubernetes at the version tools/kubernetes pins, with that version
# stamped in (no debug information: smaller binaries, linked faster).
KUBE_VERSION := $(shell sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\)$$/\1/p' tools/kubernetes/go.mod)
KUBE_VERSION_PARTS := $(subst ., ,$(KUBE_VERSION:v%=%))
KUBE_BIN := $(OUT)/kubernetes
BUILT_KUBE_APISERVER := $(KUBE_BIN)/kube-apiserver
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(KUBE_VERSION_PARTS)) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(KUBE_VERSION_PARTS))

# The services' container images, built without Docker: OCI image layouts
# under out/images/SERVICE, and out/k8s/OVERLAY, each overlay of deploy/k8s
# with the images pinned to the digests just built (pulled from
# IMAGE_REGISTRY/daprshop/SERVICE when IMAGE_REGISTRY is set).
images:
	$(TIMED) "the services' images" go run -C tools/k8s ./cmd/images -root $(CURDIR) -out $(abspath $(OUT)) -registry "$(IMAGE_REGISTRY)"

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
	cd tools/kubernetes && $(TIMED) Kubernetes $(GO_BUILD) -gcflags=all='-N -l -dwarf=false' -ldflags "$(KUBE_LDFLAGS)" -o $(abspath $(KUBE_BIN))/ ./cmd/...
	@touch $@

$(KUBE_BIN)/coredns: tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	cd tools/coredns && $(TIMED) CoreDNS $(GO_BUILD) -o $(abspath $@) .

# The images the cluster itself runs (its pause container, CoreDNS, the
# test server of tests/harness/cluster), as OCI archives its containerd
# imports: what make test's cluster check needs.
COREDNS_VERSION := $(shell sed -n 's/^require github.com\/coredns\/coredns \(v[0-9.]*\)$$/\1/p' tools/coredns/go.mod)
CLUSTER_IMAGES := $(KUBE_BIN)/images
cluster-images: kubernetes
	$(TIMED) "the cluster's images" go run -C tools/k8s ./cmd/cluster-images -out $(abspath $(CLUSTER_IMAGES)) \
		-image daprshop/pause:$(KUBE_VERSION:v%=%)=$(abspath $(KUBE_BIN)/pause) \
		-image daprshop/coredns:$(COREDNS_VERSION:v%=%)=$(abspath $(KUBE_BIN)/coredns) \
		-image daprshop/echo:1=$(abspath $(KUBE_BIN)/echo)

# Dapr's control plane (operator, placement, sentry, scheduler, injector)
# at K8S_E2E_DAPR_VERSION, under out/dapr/VERSION/controlplane: the pinned
# release from tools/daprd's module, which lists them as tools (the same
# versions as daprd), any other from the module tools/daprd/build.sh makes
# for it, as it does for that release's daprd. One build, since they share
# most packages (cold about 6 CPU-minutes, warm under a second).
CONTROLPLANE := operator placement sentry scheduler injector
CONTROLPLANE_DIR := $(OUT)/dapr/$(K8S_E2E_DAPR_VERSION)/controlplane
controlplane: $(CONTROLPLANE_DIR)/operator

$(OUT)/dapr/%/controlplane/operator: tools/daprd/go.mod tools/daprd/go.sum tools/daprd/build.sh tools/daprd/gomodfor/main.go
	$(TIMED) "Dapr's control plane $*" sh tools/daprd/build.sh $* $(@D) $(abspath $(OUT))/src/daprd-$* $(CONTROLPLANE)
	@touch $@

# nats-server built from Go modules, static: the test cluster's stand-in for
# the nats image the dev overlay names (no registry is reachable).
BUILT_NATS := $(OUT)/bin/nats-server
$(BUILT_NATS): tools/nats/go.mod tools/nats/go.sum
	cd tools/nats && $(TIMED) nats-server $(GO_BUILD) -o $(abspath $@) github.com/nats-io/nats-server/v2

# Dapr's Helm chart at K8S_E2E_DAPR_VERSION, rendered offline by Helm's own
# engine with deploy/k8s/dapr-values.yaml and what the one-node test cluster
# adds (its images, never pulled; the schedulers' claims of one size).
DAPR_IMAGE_REGISTRY := localhost/dapr
DAPR_CHART := $(OUT)/k8s-e2e/dapr.yaml
$(DAPR_CHART): FORCE
	$(call render-dapr-chart,$(K8S_E2E_DAPR_VERSION),$(K8S_DAPRD_TAG))

# The chart's objects to $@, its CRDs beside it (dapr-crds.yaml): release
# $(1)'s chart, its sidecars running REGISTRY/daprd:$(2).
define render-dapr-chart
go run -C tools/k8s ./cmd/dapr-chart -version $(1) -registry $(DAPR_IMAGE_REGISTRY) -daprd-tag $(2) \
	-values $(abspath deploy/k8s/dapr-values.yaml) -crds-out $(abspath $(@D))/dapr-crds.yaml -out $(abspath $@)
endef

# The sidecar image of what is under test: tagged with its version, or,
# for a DAPRD binary, its version followed by -custom, never to be taken
# for the release of that version a cluster is upgraded from.
K8S_DAPRD_TAG := $(UNDER_TEST_VERSION:v%=%)$(if $(DAPRD),-custom)

# With K8S_E2E_UPGRADE_FROM, the release the cluster starts on and rolls
# back to: its control plane and daprd, built as any release's are, their
# images beside the others, and its chart under out/k8s-e2e/from.
UPGRADE_FROM := $(K8S_E2E_UPGRADE_FROM)
UPGRADE_FROM_BUILDS := $(if $(UPGRADE_FROM),$(OUT)/dapr/$(UPGRADE_FROM)/controlplane/operator $(OUT)/dapr/$(UPGRADE_FROM)/.dapr/bin/daprd)
UPGRADE_FROM_IMAGES := $(if $(UPGRADE_FROM),\
	$(foreach b,$(CONTROLPLANE),-image $(DAPR_IMAGE_REGISTRY)/$(b):$(UPGRADE_FROM:v%=%)=$(abspath $(OUT)/dapr/$(UPGRADE_FROM)/controlplane/$(b))) \
	-image $(DAPR_IMAGE_REGISTRY)/daprd:$(UPGRADE_FROM:v%=%)=$(abspath $(OUT)/dapr/$(UPGRADE_FROM)/.dapr/bin/daprd))
UPGRADE_FROM_CHART := $(if $(UPGRADE_FROM),$(OUT)/k8s-e2e/from/dapr.yaml)
$(OUT)/k8s-e2e/from/dapr.yaml: FORCE
	$(call render-dapr-chart,$(UPGRADE_FROM),$(UPGRADE_FROM:v%=%))

# Every image make k8s-e2e's cluster runs, as OCI archives its containerd
# imports (no registry is reachable): the cluster's own, Dapr's control
# plane, the daprd under test (the sidecar), the dev overlay's Redis (Debian's)
# and NATS, and the services as make images built them (so the digests the
# pinned overlay names).
K8S_E2E_IMAGES := $(OUT)/k8s-e2e/images
K8S_DAPRD := $(OUT)/k8s-e2e/bin/daprd
k8s-e2e-images: images controlplane daprd $(BUILT_NATS) cluster-images $(UPGRADE_FROM_BUILDS)
	rm -rf $(K8S_E2E_IMAGES) && mkdir -p $(K8S_E2E_IMAGES) $(dir $(K8S_DAPRD))
	cp $(CLUSTER_IMAGES)/*.tar $(K8S_E2E_IMAGES)/
	cp $(if $(DAPRD),$(DAPRD),$(BUILT_DAPRD)) $(K8S_DAPRD)
	$(TIMED) "the images of make k8s-e2e" go run -C tools/k8s ./cmd/cluster-images -out $(abspath $(K8S_E2E_IMAGES)) \
		$(foreach b,$(CONTROLPLANE),-image $(DAPR_IMAGE_REGISTRY)/$(b):$(K8S_E2E_DAPR_VERSION:v%=%)=$(abspath $(CONTROLPLANE_DIR)/$(b))) \
		-image $(DAPR_IMAGE_REGISTRY)/daprd:$(K8S_DAPRD_TAG)=$(abspath $(K8S_DAPRD)) $(UPGRADE_FROM_IMAGES) \
		-image nats:2.10.22-alpine=$(abspath $(BUILT_NATS)) \
		-dynamic redis:7.4.1-alpine=/usr/bin/redis-server \
		$(foreach s,order inventory notification,-layout daprshop/$(s):0.1.0=$(abspath $(OUT)/images/$(s)))

# What a Kubernetes node runs that comes from Debian.
k8s-packages:
	sh tools/ensure-packages.sh etcd:etcd-server containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
		iptables:iptables
