package repo

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/semver"
)

// Releases reads tools/daprd/releases: the Dapr releases known to build
// and pass, oldest first, one a line, with # comments.
func Releases(root string) ([]string, error) {
	path := filepath.Join(root, "tools", "daprd", "releases")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if !semver.IsValid(line) {
			return nil, fmt.Errorf("%s: %q is not a version", path, line)
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// ReleaseBefore is the newest of releases older than version (a release
// candidate comes before its release), or "" when none is.
func ReleaseBefore(releases []string, version string) string {
	var best string
	for _, v := range releases {
		if semver.Compare(v, version) < 0 && (best == "" || semver.Compare(v, best) > 0) {
			best = v
		}
	}
	return best
}

// DaprVersionOr is version, or the pinned one when version is empty (a
// version knob that make would have set to it).
func DaprVersionOr(root, version string) (string, error) {
	if version != "" {
		return version, nil
	}
	return PinnedDaprVersion(root)
}

// ReleaseDaprd is where make builds release version's daprd
// (mk/build.mk, tools/daprd/build.sh) in the repository at root; root ""
// gives the path relative to the repository, as make's rules name it.
func ReleaseDaprd(root, version string) string {
	return filepath.Join(root, "out", "dapr", version, ".dapr", "bin", "daprd")
}

// ReleaseSentry is where make builds release version's sentry alone, as
// ReleaseDaprd says.
func ReleaseSentry(root, version string) string {
	return filepath.Join(root, "out", "dapr", version, "sentry", "sentry")
}
