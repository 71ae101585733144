// Package kubernetes is nothing but the module that builds the Kubernetes
// binaries of the test cluster (tests/harness/cluster) from the Go modules
// of k8s.io/kubernetes at one version: cmd/ holds a main for each of
// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
// kube-proxy and kubectl as upstream writes them, the pods' pause container,
// and echo, the cluster's smallest test workload. Build them all at once,
// so that they share their compiled packages:
//
//	CGO_ENABLED=0 go build -trimpath -gcflags=all='-N -l -dwarf=false' \
//		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v1.34.2 ..." -o DIR/ ./cmd/...
package kubernetes
