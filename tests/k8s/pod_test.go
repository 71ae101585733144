package k8s

import (
	"fmt"
	"slices"
	"strings"
)

// pod is what the suite reads of a Pod (kubectl get pod -o json).
type pod struct {
	Metadata struct {
		Name              string            `json:"name"`
		DeletionTimestamp string            `json:"deletionTimestamp"`
		Labels            map[string]string `json:"labels"`
		Annotations       map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Containers []container `json:"containers"`
		NodeName   string      `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase             string `json:"phase"`
		PodIP             string `json:"podIP"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			ContainerID  string `json:"containerID"`
			Ready        bool   `json:"ready"`
			RestartCount int    `json:"restartCount"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

type container struct {
	Name  string   `json:"name"`
	Image string   `json:"image"`
	Args  []string `json:"args"`
	Env   []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `json:"name"`
				Key  string `json:"key"`
			} `json:"secretKeyRef"`
		} `json:"valueFrom"`
	} `json:"env"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool `json:"runAsNonRoot"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		SeccompProfile           *struct {
			Type string `json:"type"`
		} `json:"seccompProfile"`
		Capabilities *struct {
			Drop []string `json:"drop"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

// container returns p's container called name.
func (p pod) container(name string) (container, bool) {
	i := slices.IndexFunc(p.Spec.Containers, func(c container) bool { return c.Name == name })
	if i < 0 {
		return container{}, false
	}
	return p.Spec.Containers[i], true
}

// sidecarContainer is the name Dapr's injector gives the sidecar.
const sidecarContainer = "daprd"

// A dapr.io annotation and the daprd flag the injector turns it into.
// A switch ("true") becomes the flag alone.
var annotationFlags = []struct {
	annotation, flag string
	isSwitch         bool
}{
	{"dapr.io/app-id", "--app-id", false},
	{"dapr.io/app-port", "--app-port", false},
	{"dapr.io/app-protocol", "--app-protocol", false},
	{"dapr.io/app-max-concurrency", "--app-max-concurrency", false},
	{"dapr.io/config", "--config", false},
	{"dapr.io/log-level", "--log-level", false},
	{"dapr.io/log-as-json", "--log-as-json", true},
	{"dapr.io/enable-metrics", "--enable-metrics", true},
	{"dapr.io/metrics-port", "--metrics-port", false},
	{"dapr.io/enable-app-health-check", "--enable-app-health-check", true},
	{"dapr.io/app-health-check-path", "--app-health-check-path", false},
	{"dapr.io/app-health-probe-interval", "--app-health-probe-interval", false},
	{"dapr.io/graceful-shutdown-seconds", "--dapr-graceful-shutdown-seconds", false},
	{"dapr.io/block-shutdown-duration", "--dapr-block-shutdown-duration", false},
}

// A dapr.io annotation that sets the sidecar's resources.
var annotationResources = []struct {
	annotation, kind, resource string
}{
	{"dapr.io/sidecar-cpu-request", "requests", "cpu"},
	{"dapr.io/sidecar-memory-request", "requests", "memory"},
	{"dapr.io/sidecar-cpu-limit", "limits", "cpu"},
	{"dapr.io/sidecar-memory-limit", "limits", "memory"},
}

// sidecarProblems compares the sidecar Dapr's injector added to p with
// what p's dapr.io annotations ask for, and returns every difference. An
// annotation this check does not know is a problem too, so that a new one
// cannot go unchecked.
func sidecarProblems(p pod) []string {
	d, ok := p.container(sidecarContainer)
	if !ok {
		return []string{fmt.Sprintf("no %s container injected", sidecarContainer)}
	}
	var problems []string
	flags := parseFlags(d.Args)
	checked := map[string]bool{"dapr.io/enabled": true}

	for _, af := range annotationFlags {
		want, ok := p.Metadata.Annotations[af.annotation]
		if !ok {
			continue
		}
		checked[af.annotation] = true
		got, has := flags[af.flag]
		switch {
		case af.isSwitch && want == "true" && !has:
			problems = append(problems, fmt.Sprintf("%s: %q, but daprd has no %s", af.annotation, want, af.flag))
		case af.isSwitch && want != "true" && has:
			problems = append(problems, fmt.Sprintf("%s: %q, but daprd has %s", af.annotation, want, af.flag))
		case !af.isSwitch && got != want:
			problems = append(problems, fmt.Sprintf("%s: %q, but daprd has %s %q", af.annotation, want, af.flag, got))
		}
	}
	for _, ar := range annotationResources {
		want, ok := p.Metadata.Annotations[ar.annotation]
		if !ok {
			continue
		}
		checked[ar.annotation] = true
		got := d.Resources.Requests[ar.resource]
		if ar.kind == "limits" {
			got = d.Resources.Limits[ar.resource]
		}
		if got != want {
			problems = append(problems, fmt.Sprintf("%s: %q, but daprd's %s.%s is %q", ar.annotation, want, ar.kind, ar.resource, got))
		}
	}
	if want, ok := p.Metadata.Annotations["dapr.io/sidecar-seccomp-profile-type"]; ok {
		checked["dapr.io/sidecar-seccomp-profile-type"] = true
		got := ""
		if sc := d.SecurityContext; sc != nil && sc.SeccompProfile != nil {
			got = sc.SeccompProfile.Type
		}
		if got != want {
			problems = append(problems, fmt.Sprintf("dapr.io/sidecar-seccomp-profile-type: %q, but daprd's seccomp profile is %q", want, got))
		}
	}
	for _, tok := range []struct{ annotation, env string }{
		{"dapr.io/api-token-secret", "DAPR_API_TOKEN"},
		{"dapr.io/app-token-secret", "APP_API_TOKEN"},
	} {
		secret, ok := p.Metadata.Annotations[tok.annotation]
		if !ok {
			continue
		}
		checked[tok.annotation] = true
		if !envFromSecret(d, tok.env, secret) {
			problems = append(problems, fmt.Sprintf("%s: %q, but daprd's %s does not come from it", tok.annotation, secret, tok.env))
		}
	}
	for name := range p.Metadata.Annotations {
		if strings.HasPrefix(name, "dapr.io/") && !checked[name] {
			problems = append(problems, fmt.Sprintf("annotation %s: no check of what it sets (add one to annotationFlags)", name))
		}
	}

	// What the platform's installation promises every sidecar: mTLS with
	// the control plane's sentry, and a restricted security context.
	if _, ok := flags["--enable-mtls"]; !ok {
		problems = append(problems, "daprd runs without --enable-mtls")
	}
	if sc := d.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		problems = append(problems, "daprd's securityContext is not restricted (non-root, no privilege escalation, every capability dropped)")
	}
	return problems
}

// envFromSecret reports whether container c's variable name comes from
// key "token" of Secret secret.
func envFromSecret(c container, name, secret string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef.Name == secret && e.ValueFrom.SecretKeyRef.Key == "token"
		}
	}
	return false
}

// parseFlags reads command-line flags as daprd would: "--name value",
// "--name=value", or "--name" alone (a switch, value "").
func parseFlags(args []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if name, value, ok := strings.Cut(a, "="); ok {
			flags[name] = value
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			flags[a] = args[i+1]
			i++
			continue
		}
		flags[a] = ""
	}
	return flags
}
