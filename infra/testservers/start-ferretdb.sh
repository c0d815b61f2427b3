#!/usr/bin/env bash
# Start FerretDB v1 (the MongoDB wire protocol over SQLite) on 127.0.0.1, with its data under
# WORKDIR; return once it accepts connections. WORKDIR/port holds the port, WORKDIR/pid the
# process (group) to stop with stop.sh, WORKDIR/server.log its log.
#   usage: start-ferretdb.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$(mkdir -p "$1" && cd "$1" && pwd)"
binary="$("$TESTSERVERS_DIR/install-ferretdb.sh")"
port="$(free_port)"
mkdir -p "$workdir/data"

start_in_background "$workdir" "$binary" \
  --handler=sqlite --sqlite-url="file:$workdir/data/" --state-dir="$workdir" \
  --listen-addr="127.0.0.1:$port" --debug-addr=- --telemetry=disable --log-level=WARN
echo "$port" >"$workdir/port"
wait_until "$workdir" port_answers "$port"
echo "FerretDB listening on 127.0.0.1:$port (data in $workdir)"
