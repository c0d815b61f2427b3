#!/usr/bin/env bash
# Start PostgreSQL from Debian's package on 127.0.0.1 the way the postgres image initializes a
# fresh volume: the superuser POSTGRES_USER with POSTGRES_PASSWORD (scram-sha-256 over TCP) and
# the database POSTGRES_DB, all read from the environment as the image reads them. Returns once it
# accepts connections. WORKDIR/port holds the port, WORKDIR/pid the process (group) to stop with
# stop.sh, WORKDIR/server.log its log.
#   usage: POSTGRES_USER=… POSTGRES_PASSWORD=… POSTGRES_DB=… start-postgres.sh WORKDIR
source "$(dirname "$0")/common.sh"
: "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}" "${POSTGRES_DB:?}"

workdir="$(mkdir -p "$1" && cd "$1" && pwd)"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[[ -x "$bin/initdb" ]] || { echo "no PostgreSQL server: install Debian's package postgresql" >&2; exit 1; }
port="$(free_port)"

# PostgreSQL refuses to run as root: as root (CI), the cluster belongs to the package's `postgres`
# user, in a folder of its own (the test's WORKDIR is not reachable for it) that stop.sh removes
# through the WORKDIR/data link.
as_owner=()
base="$workdir"
if ((EUID == 0)); then
  as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  base="$(mktemp -d /tmp/probablyfresh-postgres.XXXXXX)"
  chown postgres: "$base"
  ln -s "$base/data" "$workdir/data"
fi
data="$base/data"
(umask 077 && printf '%s\n' "$POSTGRES_PASSWORD" >"$base/pwfile")
[[ -z "${as_owner[*]}" ]] || chown postgres: "$base/pwfile"
"${as_owner[@]}" "$bin/initdb" -D "$data" --username="$POSTGRES_USER" --pwfile="$base/pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 >"$workdir/initdb.log" 2>&1 \
  || { cat "$workdir/initdb.log" >&2; exit 1; }
rm "$base/pwfile"

start_in_background "$workdir" "${as_owner[@]}" "$bin/postgres" -D "$data" \
  -c listen_addresses=127.0.0.1 -c port="$port" -c unix_socket_directories="$data"
echo "$port" >"$workdir/port"
wait_until "$workdir" "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"
if [[ "$POSTGRES_DB" != postgres ]]; then
  "${as_owner[@]}" "$bin/createdb" -h "$data" -p "$port" -U "$POSTGRES_USER" "$POSTGRES_DB"
fi
echo "PostgreSQL listening on 127.0.0.1:$port (data in $data)"
