package cluster

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/daprshop/daprshop/internal/imageref"
)

// containerdConfig is containerd's configuration (version 2, which Debian's
// containerd 1.6 reads): all its state under dir, its own socket, the CRI
// plugin with our pause image, runc with cgroupfs, and CNI from Debian's
// plugins with the configuration in cniConfDir.
func containerdConfig(dir, socket, cniConfDir string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
# Snapshotters that need what this machine lacks, and tracing, would only
# log errors at every start.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  # Root here lacks CAP_SYS_RESOURCE: without this, lowering a container's
  # OOM score adjustment below containerd's own fails.
  restrict_oom_score_adj = true
  # Pods' network namespaces are bind-mounted under the state directory,
  # not /run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
`, dir+"/root", dir+"/state", socket, socket+".ttrpc", dir+"/opt",
		imageref.FullName(PauseImage), cniBinDir, cniConfDir)
}

// cniConfig is the pods' network: a bridge with the node's pod range from
// host-local (its leases under ipamDir), the bridge as the pods' gateway,
// masquerading what leaves the pod range, hairpin so that a pod reaches
// itself through a Service, and portmap for hostPorts.
func cniConfig(ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "daprshop",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`, podBridge, ipamDir, nodePodCIDR)
}

// kubeletConfig is the kubelet's configuration file.
func kubeletConfig(c *Cluster) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1 and no systemd: the kubelet makes cgroups itself,
# all under cgroupRoot, which the cluster removes when it stops.
cgroupDriver: cgroupfs
cgroupRoot: %s
failSwapOn: false
clusterDNS: [%s]
clusterDomain: %s
resolvConf: %s
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
address: %s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization: {mode: Webhook}
# A test machine's disk is often fuller than a node's defaults allow:
# evict, and collect images, only when it is really full.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, c.cgroupRoot, dnsIP, clusterDomain, c.path("resolv.conf"), c.containerdSocket(),
		c.path("pod-logs"), c.nodeIP, c.pki.path("ca.crt"))
}

// kubeProxyConfig is kube-proxy's configuration file: iptables mode,
// NodePorts on the node's address only, and no conntrack tuning (those
// sysctls are the machine's, not the namespace's).
func kubeProxyConfig(c *Cluster, kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
clientConnection: {kubeconfig: %s}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, clusterCIDR, NodeName, c.nodeIP, kubeconfig)
}

//go:embed coredns.yaml
var corednsManifest string

// coreDNS returns the CoreDNS manifest with the image and the Service's IP.
func coreDNS() string {
	return strings.NewReplacer("{{IMAGE}}", CoreDNSImage, "{{DNS_IP}}", dnsIP).Replace(corednsManifest)
}
