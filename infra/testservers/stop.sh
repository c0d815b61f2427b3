#!/usr/bin/env bash
# Stop a server started by start-*.sh (its whole process group: SIGTERM, then SIGKILL after
# 30 s) and remove its WORKDIR with the data. A cluster's WORKDIR holds one folder per server
# (start-kafka-cluster.sh): they are stopped together.
#   usage: stop.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$1"
groups=()
for pid_file in "$workdir/pid" "$workdir"/*/pid; do
  [[ -f "$pid_file" ]] && groups+=("$(cat "$pid_file")")
done
for group in "${groups[@]}"; do
  kill -TERM -- "-$group" 2>/dev/null || true
done
for group in "${groups[@]}"; do
  for _ in $(seq 60); do
    kill -0 -- "-$group" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$group" 2>/dev/null || true
done
# A server that may not run as root keeps its data outside WORKDIR, linked from WORKDIR/data.
[[ -L "$workdir/data" ]] && rm -rf "$(dirname "$(readlink "$workdir/data")")"
rm -rf "$workdir"
