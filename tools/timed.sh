#!/bin/sh
# timed.sh WHAT COMMAND [ARG...]: runs COMMAND and says on stderr how long
# building WHAT took, or that it failed and after how long. The Makefile's
# build steps all go through it, so a first run (most of it building) says
# where its time went.
set -u

what=${1:?usage: timed.sh WHAT COMMAND [ARG...]}
shift
start=$(date +%s)
echo "build: $what ..." >&2
"$@"
rc=$?
took=$(($(date +%s) - start))
if [ "$rc" -ne 0 ]; then
	echo "build: $what FAILED after ${took}s" >&2
	exit "$rc"
fi
echo "build: $what took ${took}s" >&2
