// Package imageref names container images as the node's runtime and the
// project's image archives do: what tools/k8s writes and the cluster
// harness loads must agree, so both take the names from here.
package imageref

import "strings"

// FullName is ref as the CRI names it: "daprshop/order:0.1.0" is
// "docker.io/daprshop/order:0.1.0", "pause:1" "docker.io/library/pause:1".
// An image loaded from an archive must carry this name, or a pod asking
// for ref does not find it.
func FullName(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if !found || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !found {
			ref = "library/" + ref
		}
		ref = "docker.io/" + ref
	}
	if last := ref[strings.LastIndex(ref, "/")+1:]; !strings.ContainsAny(last, ":@") {
		ref += ":latest"
	}
	return ref
}

// ArchiveName is the file name of the archive of image ref: "/" and ":"
// made "_", and ".tar".
func ArchiveName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_").Replace(ref) + ".tar"
}
