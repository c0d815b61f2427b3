#!/usr/bin/env bash
# Stop a server started by start-*.sh (its whole process group: SIGTERM, then SIGKILL after
# 30 s) and remove its WORKDIR with the data. The servers it started in folders of WORKDIR
# (FerretDB's PostgreSQL, the brokers of start-kafka-cluster.sh) are stopped together with it.
#   usage: stop.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$1"
groups=()
for pid_file in "$workdir/pid" "$workdir"/*/pid; do
  if [[ -f "$pid_file" ]]; then groups+=("$(cat "$pid_file")"); fi
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
for data in "$workdir/data" "$workdir"/*/data; do
  if [[ -L "$data" ]]; then rm -rf "$(dirname "$(readlink "$data")")"; fi
done
rm -rf "$workdir"
