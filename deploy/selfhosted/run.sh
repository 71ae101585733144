#!/usr/bin/env bash
# run.sh: runs daprshop on this machine the way a Dapr user does,
#
#   dapr run -f deploy/selfhosted/dapr.yaml
#
# with the dapr CLI and daprd that `make build` built (make run calls this).
# First it makes sure Redis (127.0.0.1:6379) and NATS (127.0.0.1:4222)
# answer, starting those that do not; on exit it stops what it started, and
# only that.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=${DAPR_VERSION:?DAPR_VERSION is not set; run through make run}
# DAPRD names another daprd to run (relative to the repository).
daprd=${DAPRD:-out/dapr/$version/.dapr/bin/daprd}
case $daprd in /*) ;; *) daprd=$root/$daprd ;; esac
[ -x "$daprd" ] || { echo "run: no daprd at $daprd${DAPRD:+ (DAPRD=$DAPRD)}" >&2; exit 1; }
out=$root/out
state=$out/run
ready_timeout=90
mkdir -p "$state"

started=() # PIDs this script started, stopped in reverse order on exit
cli=

# stop_cli stops the apps and sidecars gracefully, then the CLI. The CLI
# answers a signal by SIGKILLing its children, so they get SIGTERM first;
# they share the CLI's process group, which the CLI makes its own. While it
# is still starting apps the CLI ignores signals, hence the final SIGKILL.
stop_cli() {
	[ -n "$cli" ] || return 0
	local children
	children=$(group_members "$cli")
	if [ -n "$children" ]; then
		kill -TERM $children 2>/dev/null || true
		wait_gone 10 $children || true
	fi
	kill -TERM "$cli" 2>/dev/null || true
	wait_gone 10 "$cli" || kill -KILL -- "-$cli" 2>/dev/null || true
	wait "$cli" 2>/dev/null || true
	cli=
}

group_members() { # pgid: the PIDs in that process group but its leader
	local stat line fields
	for stat in /proc/[0-9]*/stat; do
		read -r line <"$stat" 2>/dev/null || continue
		# After "pid (comm) " come state, ppid, pgrp.
		read -r -a fields <<<"${line##*) }"
		if [ "${fields[2]}" = "$1" ] && [ "${stat//[^0-9]/}" != "$1" ]; then
			echo "${stat//[^0-9]/}"
		fi
	done
}

wait_gone() { # seconds pid...: returns 1 if any is still alive after that
	local seconds=$1 pid alive
	shift
	for _ in $(seq $((seconds * 10))); do
		alive=
		for pid in "$@"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ -n "$alive" ] || return 0
		sleep 0.1
	done
	return 1
}

cleanup() {
	trap - EXIT INT TERM
	stop_cli
	for ((i = ${#started[@]} - 1; i >= 0; i--)); do
		kill -TERM "${started[i]}" 2>/dev/null || true
		wait "${started[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'echo; echo "run: stopping" >&2; exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need() { # command debian-package
	sh "$root/tools/ensure-packages.sh" "$1:$2"
}

start() { # name port command...
	local name=$1 port=$2 pid
	shift 2
	if listening "$port"; then
		echo "run: using the $name already on 127.0.0.1:$port" >&2
		return 0
	fi
	need "$1" "$name-server"
	# A session of its own: a Ctrl-C at the terminal reaches this script,
	# which stops the servers after the apps that use them.
	setsid "$@" >"$state/$name.log" 2>&1 &
	pid=$!
	started+=("$pid")
	for _ in $(seq 100); do
		listening "$port" && break
		kill -0 "$pid" 2>/dev/null || { echo "run: $name exited; see $state/$name.log" >&2; exit 1; }
		sleep 0.1
	done
	listening "$port" || { echo "run: $name is not listening on 127.0.0.1:$port; see $state/$name.log" >&2; exit 1; }
	echo "run: started $name on 127.0.0.1:$port (pid $pid, log $state/$name.log)" >&2
}

start redis 6379 redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no
start nats 4222 nats-server --addr 127.0.0.1 --port 4222

# The CLI runs $DAPR_RUNTIME_PATH/.dapr/bin/daprd. That is a wrapper here: the
# run file cannot set these two listen addresses, and daprd's defaults bind
# every interface; nor the graceful shutdown time, whose default (5 s) is
# shorter than the outbox may take to finish forwarding an event (see
# DaprdGracefulShutdownSeconds in tests/harness/system).
runtime=$state/runtime
mkdir -p "$runtime/.dapr/bin"
cat >"$runtime/.dapr/bin/daprd" <<WRAPPER
#!/bin/sh
exec "$daprd" "\$@" --metrics-listen-address 127.0.0.1 --dapr-internal-grpc-listen-address 127.0.0.1 --dapr-graceful-shutdown-seconds 15
WRAPPER
chmod +x "$runtime/.dapr/bin/daprd"

# daprd gets the CLI's environment, not the run file's env section: the
# components read the Redis addresses from REDIS_HOST and PUBSUB_REDIS_HOST
# (envRef).
export DAPR_RUNTIME_PATH=$runtime
export REDIS_HOST=${REDIS_HOST:-127.0.0.1:6379}
export PUBSUB_REDIS_HOST=${PUBSUB_REDIS_HOST:-$REDIS_HOST}
export DAPR_HOST_IP=${DAPR_HOST_IP:-127.0.0.1}

echo "run: INSECURE, for development only: no Dapr API or app tokens (INSECURE_NO_TOKENS in deploy/selfhosted/dapr.yaml), and no AUTH_ISSUER: every client is taken for an operator" >&2

# tee ignores Ctrl-C so that the shutdown's own log lines still get through.
"$out/bin/dapr" run -f "$root/deploy/selfhosted/dapr.yaml" > >(trap '' INT && exec tee "$state/dapr.log") 2>&1 &
cli=$!

ready=
for _ in $(seq $((ready_timeout * 5))); do
	if curl -fsS -o /dev/null http://127.0.0.1:8080/readyz 2>/dev/null &&
		curl -fsS -o /dev/null http://127.0.0.1:8081/readyz 2>/dev/null &&
		curl -fsS -o /dev/null http://127.0.0.1:8082/readyz 2>/dev/null; then
		ready=1
		break
	fi
	kill -0 "$cli" 2>/dev/null || break
	# The CLI carries on when a sidecar dies at start (a component it cannot
	# load, say); waiting longer would not help.
	grep -q 'daprd process exited with error' "$state/dapr.log" && break
	sleep 0.2
done

if [ -z "$ready" ]; then
	echo "run: daprshop did not start. What the sidecars reported as fatal (all output: $state/dapr.log):" >&2
	grep -E 'level=fatal|"level":"fatal"' "$state/dapr.log" >&2 || echo "  nothing; not ready after ${ready_timeout}s" >&2
	exit 1
fi

cat >&2 <<MSG

run: daprshop is up on daprd $("$daprd" --version). The API is at http://127.0.0.1:8080
  curl -s -XPOST 127.0.0.1:8080/orders -H 'Content-Type: application/json' \\
    -d '{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":2}]}'
  curl -s 127.0.0.1:8081/items
  curl -s '127.0.0.1:8082/notifications?customerId=c-1'
Notifications go out on NATS subjects notifications.<customerId>. Ctrl-C stops everything.

MSG
wait "$cli"
