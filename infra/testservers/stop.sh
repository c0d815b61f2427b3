#!/usr/bin/env bash
# Stop a server started by start-*.sh (its whole process group: SIGTERM, then SIGKILL after
# 30 s) and remove its WORKDIR with the data.
#   usage: stop.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$1"
if [[ -f "$workdir/pid" ]]; then
  group="$(cat "$workdir/pid")"
  kill -TERM -- "-$group" 2>/dev/null || true
  for _ in $(seq 60); do
    kill -0 -- "-$group" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$group" 2>/dev/null || true
fi
# A server that may not run as root keeps its data outside WORKDIR, linked from WORKDIR/data.
[[ -L "$workdir/data" ]] && rm -rf "$(dirname "$(readlink "$workdir/data")")"
rm -rf "$workdir"
