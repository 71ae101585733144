// Package machine boots Debian machines with systemd-nspawn, joined by a
// bridge, inside the test's own network namespace: VMs in all but the
// kernel, where systemd is PID 1 and runs the units as on a real host.
package machine

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// base is what every image holds beyond Debian's minimal base: systemd as
// PID 1 with its network daemon.
var base = []string{"systemd", "systemd-sysv", "dbus", "iproute2"}

// Server is a server an operator installs on the backends VM from Debian:
// its package, and the unit Debian starts it by, which the image leaves
// disabled (the operator, and so the test, configures it first).
type Server struct{ Package, Unit string }

// EnsureImage returns the directory of the machines' image with servers
// installed, under out/vm/, building it with debootstrap when it is not
// there yet (about a minute, once for each set of servers): the host's own
// Debian release, from the mirror the host's apt uses. Every machine boots
// on an overlay of it, so the image is never changed. It runs before the
// tests enter their namespace, where there is no network.
func EnsureImage(root string, servers ...Server) (string, error) {
	codename, err := osRelease("VERSION_CODENAME")
	if err != nil {
		return "", err
	}
	packages := slices.Clone(base)
	for _, s := range servers {
		packages = append(packages, s.Package)
	}
	sum := sha256.Sum256([]byte(strings.Join(packages, ",")))
	dir := filepath.Join(root, "out", "vm", "image-"+codename+"-"+hex.EncodeToString(sum[:4]))
	if _, err := os.Stat(filepath.Join(dir, "sbin", "init")); err == nil {
		return dir, nil
	}
	mirror, err := aptMirror()
	if err != nil {
		return "", err
	}
	for _, bin := range []string{"debootstrap", "systemd-nspawn"} {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("%s not found: install Debian's debootstrap and systemd-container packages", bin)
		}
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "machine: building the machines' Debian %s image in %s (about a minute, once)\n", codename, dir)
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(packages, ","), codename, tmp, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("debootstrap: %w\n%s", err, tail(string(out), 20))
	}
	// Debian starts the servers it installs; the backends VM's operator
	// configures them first, and so does the test.
	for _, s := range servers {
		if out, err := exec.Command("systemctl", "--root="+tmp, "disable", s.Unit).CombinedOutput(); err != nil {
			return "", fmt.Errorf("disable %s in the image: %w: %s", s.Unit, err, out)
		}
	}
	return dir, os.Rename(tmp, dir)
}

// osRelease returns a field of the host's /etc/os-release.
func osRelease(field string) (string, error) {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+"="); ok {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", fmt.Errorf("/etc/os-release has no %s", field)
}

// aptMirror is the first Debian archive the host's apt is configured with:
// the one package registry the machines may use.
func aptMirror() (string, error) {
	for _, f := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:" && !strings.Contains(fields[1], "security"):
				return fields[1], nil
			case len(fields) >= 3 && fields[0] == "deb" && !strings.Contains(fields[1], "security"):
				return fields[1], nil
			}
		}
	}
	return "", errors.New("no Debian archive in the host's apt sources, for debootstrap")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
