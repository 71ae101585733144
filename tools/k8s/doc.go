// Package k8s checks deploy/k8s: the images the manifests name, what the
// rendered overlays intend, and that a real Kubernetes API server accepts them.
package k8s
