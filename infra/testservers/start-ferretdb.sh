#!/usr/bin/env bash
# Start FerretDB v1 (the MongoDB wire protocol) on 127.0.0.1 over a PostgreSQL of its own, as
# FerretDB's image runs it; return once it accepts connections. WORKDIR/port holds the port,
# WORKDIR/pid the process (group) to stop with stop.sh (which stops WORKDIR/postgres too),
# WORKDIR/server.log its log.
# Not its SQLite backend: that one decodes every document of a collection for each update by
# `_id` (15–47 ms per update at 1,000 documents, against 0.7–1.5 ms on PostgreSQL).
#   usage: start-ferretdb.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$(mkdir -p "$1" && cd "$1" && pwd)"
binary="$("$TESTSERVERS_DIR/install-ferretdb.sh")"
password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
POSTGRES_USER=ferretdb POSTGRES_PASSWORD="$password" POSTGRES_DB=ferretdb \
  "$TESTSERVERS_DIR/start-postgres.sh" "$workdir/postgres" >/dev/null
port="$(free_port)"

start_in_background "$workdir" "$binary" \
  --handler=pg --postgresql-url="postgres://ferretdb:$password@127.0.0.1:$(cat "$workdir/postgres/port")/ferretdb" \
  --state-dir="$workdir" --listen-addr="127.0.0.1:$port" --debug-addr=- --telemetry=disable --log-level=WARN
echo "$port" >"$workdir/port"
wait_until "$workdir" port_answers "$port"
echo "FerretDB listening on 127.0.0.1:$port (data in PostgreSQL, $workdir/postgres)"
