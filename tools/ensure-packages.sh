#!/bin/sh
# ensure-packages.sh COMMAND:PACKAGE ...: makes sure each COMMAND is on PATH,
# installing its Debian PACKAGE when it is missing and this runs as root with
# apt-get; otherwise it says what to install and fails. `make run` and
# `make test` both call it, so a fresh machine needs nothing done by hand.
set -eu

missing=
for pair in "$@"; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing Debian packages:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # one word per package
	apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
	exit 0
fi
echo "missing:$missing. Install them (sudo apt-get install$missing) and run again." >&2
exit 1
