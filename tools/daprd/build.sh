#!/bin/sh
# build.sh VERSION OUTDIR [WORKDIR [COMMAND...]]: puts daprd at dapr VERSION
# into OUTDIR/daprd, built from Go modules with only the components Dapr
# certifies stable, and the version stamped in (`daprd --version` prints
# it). With COMMANDs (operator placement sentry scheduler injector: the
# control plane), it builds those of the same release instead, into
# OUTDIR/COMMAND each.
#
# The pinned version (tools/daprd/go.mod) builds from this module as
# committed. Another version builds from a module generated in WORKDIR
# (see gomodfor). A daprd already installed, on PATH
# or in ~/.dapr/bin, is copied instead when it reports the same version.
set -eu

version=${1:?usage: build.sh VERSION OUTDIR [WORKDIR [COMMAND...]]}
out=${2:?usage: build.sh VERSION OUTDIR [WORKDIR [COMMAND...]]}
src=${3:-$out/src}
shift $(($# < 3 ? $# : 3))
commands=$*
case $version in
v[0-9]*.[0-9]*.[0-9]*) ;;
*)
	echo "build.sh: \"$version\" is not a Dapr release's version, such as v1.17.5" >&2
	exit 2
	;;
esac
here=$(cd "$(dirname "$0")" && pwd)
pinned=$(sed -n 's/^require github.com\/dapr\/dapr \(v.*\)$/\1/p' "$here/go.mod")
mkdir -p "$out"
out=$(cd "$out" && pwd) # the build below runs in another directory

if [ -z "$commands" ]; then # daprd alone
	for installed in "$(command -v daprd || true)" "${HOME:-/nonexistent}/.dapr/bin/daprd"; do
		if [ -x "$installed" ] && [ "$("$installed" --version 2>/dev/null || true)" = "${version#v}" ]; then
			echo "build.sh: using the installed $installed (version ${version#v})" >&2
			cp "$installed" "$out/daprd"
			exit 0
		fi
	done
fi

if [ "$version" = "$pinned" ]; then
	src=$here
else
	# A module made before it listed the control plane as tools is made
	# again.
	if [ ! -f "$src/go.sum" ] || ! grep -q '^tool (' "$src/go.mod"; then
		echo "build.sh: preparing a module for dapr $version in $src" >&2
		mkdir -p "$src"
		gomod=$(go mod download -json "github.com/dapr/dapr@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
		if [ -z "$gomod" ]; then
			echo "build.sh: the module proxy does not serve github.com/dapr/dapr@$version" >&2
			# What this run made, if still empty: the work directory and
			# OUTDIR with its parents up to the version's own.
			rmdir "$src" 2>/dev/null || true
			d=$out
			while [ "$(basename "$d")" != "$version" ] && rmdir "$d" 2>/dev/null; do d=$(dirname "$d"); done
			[ "$(basename "$d")" = "$version" ] && rmdir "$d" 2>/dev/null || true
			exit 1
		fi
		cp "$here/main.go" "$src/"
		( cd "$here" && go run ./gomodfor "$version" "$gomod" ) >"$src/go.mod"
		( cd "$src" && go mod tidy -e )
	fi
fi

stamp="-X github.com/dapr/dapr/pkg/buildinfo.version=${version#v}"
if [ -n "$commands" ]; then
	echo "build.sh: building dapr $version's $commands into $out (cold: several minutes)" >&2
	pkgs=
	for c in $commands; do pkgs="$pkgs github.com/dapr/dapr/cmd/$c"; done
	# One build: the commands share most packages. $pkgs is one package a
	# word.
	( cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "$stamp" -o "$out/" $pkgs )
	exit 0
fi
echo "build.sh: building daprd $version into $out (cold: several minutes)" >&2
( cd "$src" && CGO_ENABLED=0 go build -trimpath -tags stablecomponents -ldflags "$stamp" -o "$out/daprd" . )
"$out/daprd" --version
