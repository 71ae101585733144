#!/usr/bin/env bash
# run.sh: runs daprshop on this machine the way a Dapr user does,
#
#   dapr run -f deploy/selfhosted/dapr.yaml
#
# with the dapr CLI and daprd that `make build` built (make run calls this).
# First it makes sure the servers of the backend profile BACKEND names
# answer, starting those that do not: Redis (127.0.0.1:6379) for `redis`,
# PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) for
# `postgres-rabbitmq`, and NATS (127.0.0.1:4222) for both. On exit it stops
# what it started, and only that. RUN_SECURED=true runs the system as
# production does (start_secured): tokens, an issuer, mTLS, NATS in JWT
# mode.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=${DAPR_VERSION:?DAPR_VERSION is not set; run through make run}
backend=${BACKEND:-redis}
case $backend in
redis) ;;
postgres-rabbitmq)
	# PostgreSQL refuses to run as root, and only root can start it as
	# the package's postgres user.
	[ "$(id -u)" -eq 0 ] || { echo "run: BACKEND=$backend runs PostgreSQL as its own user: run as root" >&2; exit 2; } ;;
*)
	echo "run: BACKEND=$backend: want redis or postgres-rabbitmq" >&2
	exit 2 ;;
esac
# RUN_SECURED=true runs the system as production does (start_secured).
secured=${RUN_SECURED:-false}
case $secured in
true | false) ;;
*)
	echo "run: RUN_SECURED=$secured: want true or false" >&2
	exit 2 ;;
esac
# DAPRD names another daprd to run (relative to the repository).
daprd=${DAPRD:-out/dapr/$version/.dapr/bin/daprd}
case $daprd in /*) ;; *) daprd=$root/$daprd ;; esac
[ -x "$daprd" ] || { echo "run: no daprd at $daprd${DAPRD:+ (DAPRD=$DAPRD)}" >&2; exit 1; }
out=$root/out
state=$out/run
ready_timeout=90
mkdir -p "$state"

started=()   # PIDs this script started, stopped in reverse order on exit
scratches=() # directories of the servers' data, removed once they stopped
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
	rm -rf "${scratches[@]}"
}
trap cleanup EXIT
trap 'echo; echo "run: stopping" >&2; exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need() { # program debian-package
	sh "$root/tools/ensure-packages.sh" "$1:$2"
}

running() { # name port: whether a server listens there already, said if so
	listening "$2" || return 1
	echo "run: using the $1 already on 127.0.0.1:$2" >&2
}

# start starts a server and waits up to 30 s for it to listen (RabbitMQ
# takes about 5).
start() { # name port command...
	local name=$1 port=$2 pid
	shift 2
	# A session of its own: a Ctrl-C at the terminal reaches this script,
	# which stops the servers after the apps that use them.
	setsid "$@" >"$state/$name.log" 2>&1 &
	pid=$!
	started+=("$pid")
	for _ in $(seq 300); do
		listening "$port" && break
		kill -0 "$pid" 2>/dev/null || { echo "run: $name exited; see $state/$name.log" >&2; exit 1; }
		sleep 0.1
	done
	listening "$port" || { echo "run: $name is not listening on 127.0.0.1:$port; see $state/$name.log" >&2; exit 1; }
	echo "run: started $name on 127.0.0.1:$port (pid $pid, log $state/$name.log)" >&2
}

# scratch makes a directory for a server's data, scratch_dir, removed on
# exit: a development database starts empty each run, as Redis does.
scratch() { # name
	scratch_dir=$(mktemp -d -t "daprshop-run-$1.XXXXXX")
	scratches+=("$scratch_dir")
}

postgres_bin=/usr/lib/postgresql/15/bin
start_postgres() {
	running postgres 5432 && return
	need "$postgres_bin/postgres" postgresql-15
	local as_postgres=(setpriv --reuid postgres --regid postgres --clear-groups --)
	scratch postgres
	local dir=$scratch_dir
	chown postgres: "$dir"
	"${as_postgres[@]}" "$postgres_bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$state/postgres-initdb.log" 2>&1 ||
		{ echo "run: initdb failed; see $state/postgres-initdb.log" >&2; exit 1; }
	# setpriv execs the server: the PID stopped on exit is the postmaster's.
	start postgres 5432 "${as_postgres[@]}" "$postgres_bin/postgres" -D "$dir/data" -p 5432 -k "$dir" -c listen_addresses=127.0.0.1
}

# The broker runs with no plugins, its Erlang port mapper started first so
# that it stops with the rest.
rabbitmq_bin=/usr/lib/rabbitmq/bin
start_rabbitmq() {
	running rabbitmq 5672 && return
	need "$rabbitmq_bin/rabbitmq-server" rabbitmq-server
	scratch rabbitmq
	local dir=$scratch_dir
	echo '[].' >"$dir/enabled_plugins"
	running epmd 4369 || start epmd 4369 epmd -address 127.0.0.1 -port 4369
	# RUNNING_UNDER_SYSTEMD makes the script exec the Erlang VM, whose PID
	# is then the one stopped on exit.
	start rabbitmq 5672 env HOME="$dir" RABBITMQ_NODENAME=rabbit@localhost \
		ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=4369 RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 \
		RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_LOGS=- \
		RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RUNNING_UNDER_SYSTEMD=1 "$rabbitmq_bin/rabbitmq-server"
}

# start_secured starts, on loopback, what production has and development
# does without, and exports what the apps and sidecars read of it: NATS in
# JWT mode, trusting the account notification signs each customer's
# credentials with (notification nats-trust); sentry, the certificate
# authority of the sidecars' mTLS, which deploy/selfhosted/config.yaml
# turns on with its access policy, as on the VMs; the development issuer
# of clients' tokens (tools/devissuer, which make token asks); a trace
# viewer (tools/traceview), which the sidecars and the apps send every
# span to; and a Dapr API token and an app token made for this run.
start_secured() {
	local port
	for port in 4222 4317 8088 8089 16686 50001; do
		if listening "$port"; then
			echo "run: RUN_SECURED=true starts servers of its own, and 127.0.0.1:$port is taken" >&2
			exit 1
		fi
	done
	need nats-server nats-server
	scratch secured
	local dir=$scratch_dir trust=$scratch_dir/nats-trust
	"$out/bin/notification" nats-trust "$trust" >"$state/nats-trust.log" 2>&1 ||
		{ echo "run: notification nats-trust failed; see $state/nats-trust.log" >&2; exit 1; }
	cp "$trust/nats-server/daprshop-trust.conf" "$dir/"
	printf 'listen: 127.0.0.1:4222\ninclude daprshop-trust.conf\n' >"$dir/nats.conf"
	start nats 4222 nats-server -c "$dir/nats.conf"
	export NATS_CREDENTIALS=$trust/notification/nats.creds
	export NATS_ACCOUNT_SIGNING_KEY=$trust/notification/nats-account-signing-key
	NATS_ACCOUNT=$(cat "$trust/notification/nats-account")
	export NATS_ACCOUNT

	local sentry=${SENTRY:-out/bin/sentry}
	case $sentry in /*) ;; *) sentry=$root/$sentry ;; esac
	mkdir "$dir/sentry"
	start sentry 50001 "$sentry" --mode standalone --config "$root/deploy/selfhosted/config.yaml" \
		--issuer-credentials "$dir/sentry" --trust-domain localhost --listen-address 127.0.0.1 --port 50001 \
		--healthz-listen-address 127.0.0.1 --healthz-port 8090 --metrics-listen-address 127.0.0.1 --metrics-port 9099
	for _ in $(seq 100); do
		[ -s "$dir/sentry/ca.crt" ] && break
		sleep 0.1
	done
	[ -s "$dir/sentry/ca.crt" ] || { echo "run: sentry made no ca.crt; see $state/sentry.log" >&2; exit 1; }
	DAPR_TRUST_ANCHORS=$(cat "$dir/sentry/ca.crt")
	export DAPR_TRUST_ANCHORS

	start devissuer 8088 "$out/bin/devissuer" -issuer 127.0.0.1:8089 -tokens 127.0.0.1:8088
	export AUTH_ISSUER=http://127.0.0.1:8089 AUTH_AUDIENCE=daprshop

	# The sidecars' configuration: the VMs' (mTLS, the access policy),
	# every request traced to the viewer.
	start traceview 16686 "$out/bin/traceview" -otlp 127.0.0.1:4317 -http 127.0.0.1:16686
	export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317
	cat "$root/deploy/selfhosted/config.yaml" - >"$state/config.yaml" <<'TRACING'
  tracing:
    samplingRate: "1"
    otel:
      endpointAddress: 127.0.0.1:4317
      protocol: grpc
      isSecure: false
TRACING
	DAPR_API_TOKEN=$(new_token)
	APP_API_TOKEN=$(new_token)
	export DAPR_API_TOKEN APP_API_TOKEN
}

# new_token prints a random token of 32 letters and digits or so.
new_token() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }

# derive_runfile writes the run file make run runs, $state/dapr.yaml, as
# deploy/selfhosted/dapr.yaml with each sed expression applied, each
# checked by the pattern after it: the copy sits at the same depth, so its
# other paths still resolve.
derive_runfile() { # (sed-expression want-pattern)...
	local from=$runfile args=() wants=()
	while [ $# -gt 0 ]; do
		args+=(-e "$1")
		wants+=("$2")
		shift 2
	done
	runfile=$state/dapr.yaml
	sed "${args[@]}" "$from" >"$runfile.new"
	mv "$runfile.new" "$runfile"
	local want
	for want in "${wants[@]}"; do
		grep -q -- "$want" "$runfile" || { echo "run: deploy/selfhosted/dapr.yaml changed: cannot set $want" >&2; exit 1; }
	done
}

runfile=$root/deploy/selfhosted/dapr.yaml
case $backend in
redis)
	running redis 6379 || { need redis-server redis-server && start redis 6379 redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no; }
	# The components read the Redis addresses from REDIS_HOST and
	# PUBSUB_REDIS_HOST (envRef).
	export REDIS_HOST=${REDIS_HOST:-127.0.0.1:6379}
	export PUBSUB_REDIS_HOST=${PUBSUB_REDIS_HOST:-$REDIS_HOST}
	;;
postgres-rabbitmq)
	start_postgres
	start_rabbitmq
	export POSTGRES_CONNECTION_STRING=${POSTGRES_CONNECTION_STRING:-host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable}
	export RABBITMQ_CONNECTION_STRING=${RABBITMQ_CONNECTION_STRING:-amqp://guest:guest@127.0.0.1:5672}
	# The profile's resources: components/, its own files in place of
	# those of the same name. The run file, copied beside them at the
	# same depth (its other paths still resolve), points at them and
	# leaves order's create ETag unset: state.postgresql keeps first-write
	# in transactions (docs/patterns.md, "Two backend profiles").
	rm -rf "$state/resources"
	mkdir -p "$state/resources"
	cp "$root"/components/*.yaml "$state/resources/"
	cp "$root/components/$backend"/*.yaml "$state/resources/"
	derive_runfile 's|resourcesPaths: \["../../components"\]|resourcesPaths: ["resources"]|' 'resourcesPaths: \["resources"\]' \
		's|ORDERSTORE_CREATE_ETAG: "2147483647"|ORDERSTORE_CREATE_ETAG: ""|' 'ORDERSTORE_CREATE_ETAG: ""'
	;;
esac
mtls=
if [ "$secured" = true ]; then
	start_secured
	# The apps take their tokens and issuer from the environment, and the
	# sidecars their configuration from start_secured's.
	derive_runfile '/INSECURE_NO_TOKENS: "true"/d' 'APP_HOST: 127.0.0.1' \
		's|configFilePath: ../../components/config.yaml|configFilePath: config.yaml|' 'configFilePath: config.yaml'
	grep -q INSECURE_NO_TOKENS "$runfile" && { echo "run: deploy/selfhosted/dapr.yaml changed: cannot leave out INSECURE_NO_TOKENS" >&2; exit 1; }
	# The CLI turns mTLS on itself for a configuration that enables it,
	# with sentry at localhost:50001; sentry listens on 127.0.0.1 only,
	# and localhost may resolve to ::1 first. The later flag wins.
	mtls="--enable-mtls --sentry-address 127.0.0.1:50001"
else
	running nats 4222 || { need nats-server nats-server && start nats 4222 nats-server --addr 127.0.0.1 --port 4222; }
fi

# The CLI runs $DAPR_RUNTIME_PATH/.dapr/bin/daprd. That is a wrapper here: the
# run file cannot set these two listen addresses, and daprd's defaults bind
# every interface; nor the graceful shutdown time, whose default (5 s) is
# shorter than the outbox may take to finish forwarding an event (see
# DaprdGracefulShutdownSeconds in tests/harness/system).
runtime=$state/runtime
mkdir -p "$runtime/.dapr/bin"
cat >"$runtime/.dapr/bin/daprd" <<WRAPPER
#!/bin/sh
exec "$daprd" "\$@" --metrics-listen-address 127.0.0.1 --dapr-internal-grpc-listen-address 127.0.0.1 --dapr-graceful-shutdown-seconds 15 $mtls
WRAPPER
chmod +x "$runtime/.dapr/bin/daprd"

# daprd gets the CLI's environment, not the run file's env section: the
# servers' addresses the components read (envRef) are exported above.
export DAPR_RUNTIME_PATH=$runtime
export DAPR_HOST_IP=${DAPR_HOST_IP:-127.0.0.1}

if [ "$secured" = false ]; then
	echo "run: INSECURE, for development only: no Dapr API or app tokens (INSECURE_NO_TOKENS in deploy/selfhosted/dapr.yaml), and no AUTH_ISSUER: every client is taken for an operator (RUN_SECURED=true runs it as production does)" >&2
fi

# tee ignores Ctrl-C so that the shutdown's own log lines still get through.
"$out/bin/dapr" run -f "$runfile" > >(trap '' INT && exec tee "$state/dapr.log") 2>&1 &
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

if [ "$secured" = true ]; then
	cat >&2 <<MSG

run: daprshop is up on daprd $("$daprd" --version), backend $backend, secured: every client presents a token
(make token), the sidecars talk mTLS, NATS takes customers' credentials only. The API is at http://127.0.0.1:8080
  curl -s -XPOST 127.0.0.1:8080/orders -H 'Content-Type: application/json' \\
    -H "Authorization: Bearer \$(make -s token CUSTOMER=c-1)" -d '{"items":[{"sku":"SKU-1","quantity":2}]}'
  curl -s 127.0.0.1:8081/items -H "Authorization: Bearer \$(make -s token CUSTOMER=c-1)"
  curl -s 127.0.0.1:8082/notifications -H "Authorization: Bearer \$(make -s token CUSTOMER=c-1)"
Notifications go out on NATS subjects notifications.<customerId>. Ctrl-C stops everything.

MSG
else
	cat >&2 <<MSG

run: daprshop is up on daprd $("$daprd" --version), backend $backend. The API is at http://127.0.0.1:8080
  curl -s -XPOST 127.0.0.1:8080/orders -H 'Content-Type: application/json' \\
    -d '{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":2}]}'
  curl -s 127.0.0.1:8081/items
  curl -s '127.0.0.1:8082/notifications?customerId=c-1'
Notifications go out on NATS subjects notifications.<customerId>. Ctrl-C stops everything.

MSG
fi
wait "$cli"
