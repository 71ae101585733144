#!/bin/sh
# install.sh [--dry-run] [--root DIR] [--ca-cert FILE] [--nats-trust DIR]
# [--backend PROFILE] ROLE...: lays daprshop out on this VM. ROLE is order,
# inventory, notification (an app and its sidecar) or sentry (the
# certificate authority of the backends VM; Redis and NATS, or PostgreSQL,
# RabbitMQ and NATS, are yours, referenced by address in
# /etc/daprshop/daprshop.env or by connection string in secrets/).
#
#   /opt/daprshop/bin/        binaries and with-credentials
#   /etc/daprshop/            daprshop.env, ROLE.env, backend.env,
#                             config.yaml, components/
#   /etc/daprshop/secrets/    per app: dapr-api-token, app-api-token (0600);
#                             redis-password, or postgres-connection-string
#                             and rabbitmq-connection-string (empty until you
#                             fill them in);
#                             notification's NATS credentials (--nats-trust)
#   /etc/daprshop/tls/ca.crt  sentry's trust anchor (--ca-cert)
#   /etc/systemd/system/      the units
#
# Safe to run again: binaries, components and units are replaced when they
# changed; env files and tokens are created once and then left alone, since
# they hold the operator's addresses and the VM's secrets. --nats-trust DIR
# installs notification's NATS credentials from DIR, which `notification
# nats-trust DIR` made once for the deployment. --backend PROFILE picks the
# state store and broker: redis (components/) or postgres-rabbitmq
# (components/postgres-rabbitmq/ in place of the Redis files); without it, the
# one installed before, else redis. --dry-run prints
# what it would do and changes nothing. --root DIR installs under DIR (a
# staging tree) and skips the user and systemctl.
#
# Binaries come from a checkout after `make build sentry`: out/bin (the
# apps, sentry) and daprd at the pinned version; set BIN_DIR, DAPRD or
# SENTRY to take them from elsewhere.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dry=
root=
ca=
nats_trust=
backend=
while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) dry=1 ;;
	--root) root=${2:?--root needs a directory}; shift ;;
	--ca-cert) ca=${2:?--ca-cert needs a file}; shift ;;
	--nats-trust) nats_trust=${2:?--nats-trust needs the directory notification nats-trust made}; shift ;;
	--backend) backend=${2:?--backend needs a profile: redis or postgres-rabbitmq}; shift ;;
	-*) echo "install.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || { echo "usage: install.sh [--dry-run] [--root DIR] [--ca-cert FILE] [--nats-trust DIR] [--backend PROFILE] order|inventory|notification|sentry..." >&2; exit 2; }

version=$(sed -n 's/^require github.com\/dapr\/dapr \(v.*\)$/\1/p' "$repo/tools/daprd/go.mod")
bin_dir=${BIN_DIR:-$repo/out/bin}
daprd=${DAPRD:-$repo/out/dapr/$version/.dapr/bin/daprd}
sentry=${SENTRY:-$bin_dir/sentry}
etc=$root/etc/daprshop
opt=$root/opt/daprshop
units=$root/etc/systemd/system

# The backend profile: as given, else as installed before (backend.env
# records it), else Redis.
if [ -z "$backend" ] && [ -f "$etc/backend.env" ]; then
	backend=$(sed -n 's/^DAPRSHOP_BACKEND=//p' "$etc/backend.env")
fi
backend=${backend:-redis}
[ -f "$here/env/backend-$backend.env" ] || { echo "install.sh: --backend $backend: want redis or postgres-rabbitmq" >&2; exit 2; }

say() { echo "install.sh: $*" >&2; }
run() { # command...: runs it, or only says it under --dry-run
	if [ -n "$dry" ]; then say "would run: $*"; else "$@"; fi
}

# put MODE SRC DST: copies SRC to DST unless DST already has its content.
put() {
	[ -f "$2" ] || { say "missing $2 (build it first: make build sentry)"; exit 1; }
	if [ -f "$3" ] && cmp -s "$2" "$3"; then
		say "unchanged $3"
		return 0
	fi
	run install -D -m "$1" "$2" "$3"
}

# once MODE SRC DST: copies SRC to DST only if DST does not exist.
once() {
	if [ -e "$3" ]; then say "kept $3"; return 0; fi
	run install -D -m "$1" "$2" "$3"
}

# token FILE: a new random 256-bit token, readable by root alone.
token() {
	if [ -e "$1" ]; then say "kept $1"; return 0; fi
	if [ -n "$dry" ]; then say "would create $1 (random token, mode 0600)"; return 0; fi
	install -d -m 0700 "$(dirname "$1")"
	(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$1")
}

# secret_file FILE: an empty file readable by root alone, for the operator
# to fill in (the Redis password; empty means none).
secret_file() {
	if [ -e "$1" ]; then say "kept $1"; return 0; fi
	if [ -n "$dry" ]; then say "would create $1 (empty, mode 0600: put the secret there)"; return 0; fi
	install -d -m 0700 "$(dirname "$1")"
	(umask 077 && : >"$1")
}

for role in "$@"; do
	case $role in
	order | inventory | notification | sentry) ;;
	*) echo "install.sh: unknown role $role" >&2; exit 2 ;;
	esac
done
# notification's NATS files, as notification nats-trust lays them out:
# checked before anything changes.
nats_files="nats.creds nats-account-signing-key nats-account"
if [ -n "$nats_trust" ]; then
	for f in $nats_files; do
		[ -f "$nats_trust/notification/$f" ] || { echo "install.sh: --nats-trust $nats_trust has no notification/$f: give it the directory notification nats-trust made" >&2; exit 2; }
	done
fi

if [ -z "$root" ] && ! id daprshop >/dev/null 2>&1; then
	run useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin daprshop
fi

put 0755 "$here/with-credentials" "$opt/bin/with-credentials"
put 0644 "$here/config.yaml" "$etc/config.yaml"
once 0644 "$here/env/daprshop.env" "$etc/daprshop.env"
put 0644 "$here/env/backend-$backend.env" "$etc/backend.env"
for f in "$repo"/components/*.yaml; do
	[ -f "$repo/components/$backend/${f##*/}" ] && f=$repo/components/$backend/${f##*/}
	put 0644 "$f" "$etc/components/${f##*/}"
done

for role in "$@"; do
	if [ "$role" = sentry ]; then
		put 0755 "$sentry" "$opt/bin/sentry"
		put 0644 "$here/systemd/daprshop-sentry.service" "$units/daprshop-sentry.service"
		continue
	fi
	put 0755 "$bin_dir/$role" "$opt/bin/$role"
	put 0755 "$daprd" "$opt/bin/daprd"
	once 0644 "$here/env/$role.env" "$etc/$role.env"
	token "$etc/secrets/$role/dapr-api-token"
	token "$etc/secrets/$role/app-api-token"
	put 0644 "$here/systemd/daprshop@.service" "$units/daprshop@.service"
	put 0644 "$here/systemd/daprshop-daprd@.service" "$units/daprshop-daprd@.service"
	# What the sidecar loads to reach the backend's servers: the
	# profile's drop-in, replacing another profile's, and an empty secret
	# file for each credential it loads.
	put 0644 "$here/systemd/backends/$backend.conf" "$units/daprshop-daprd@.service.d/backend.conf"
	for secret in $(sed -n 's|^LoadCredential=[^:]*:/etc/daprshop/||p' "$here/systemd/backends/$backend.conf" | sort -u); do
		secret_file "$etc/$secret"
	done
	if [ "$role" = notification ]; then
		# NATS authenticates notification with these, and notification
		# issues customers their credentials with the account's signing
		# key; the drop-in hands them to the app.
		put 0644 "$here/systemd/daprshop@notification.service.d/nats.conf" "$units/daprshop@notification.service.d/nats.conf"
		for f in $nats_files; do
			if [ -n "$nats_trust" ]; then
				put 0600 "$nats_trust/notification/$f" "$etc/secrets/notification/$f"
			elif [ ! -e "$etc/secrets/notification/$f" ]; then
				say "no $etc/secrets/notification/$f yet: pass --nats-trust DIR (made by notification nats-trust DIR) before starting daprshop@notification"
			fi
		done
	fi
	if [ -n "$ca" ]; then
		put 0644 "$ca" "$etc/tls/ca.crt"
	elif [ ! -e "$etc/tls/ca.crt" ]; then
		say "no $etc/tls/ca.crt yet: copy sentry's ca.crt there (or pass --ca-cert) before starting daprshop@$role"
	fi
done

if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
	run systemctl daemon-reload
	for role in "$@"; do
		if [ "$role" = sentry ]; then run systemctl enable daprshop-sentry.service; else run systemctl enable "daprshop@$role.service"; fi
	done
fi
say "done${dry:+ (dry run: nothing changed)}"
