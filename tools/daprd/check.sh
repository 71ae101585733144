#!/bin/sh
# check.sh DAPRD: fails with one line saying what is wrong when DAPRD is not
# a daprd that runs here (make's check of a DAPRD it is given, before it
# compiles anything; the suites check the same with go test).
set -u
daprd=${1:?usage: check.sh DAPRD}
say() { echo "daprd under test (DAPRD=$daprd): $*" >&2; exit 1; }

[ -e "$daprd" ] || say "$(realpath -m "$daprd"): no such file or directory"
[ -f "$daprd" ] && [ -x "$daprd" ] || say "$(realpath -m "$daprd") is not an executable file"
version=$(timeout 5 "$daprd" --version 2>&1) || say "$daprd --version failed: $(echo "$version" | head -n 1)"
case $version in
*[[:space:]]* | "") say "$daprd --version printed '$(echo "$version" | head -n 1)', not a version: is it daprd?" ;;
esac
