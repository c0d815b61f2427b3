#!/usr/bin/env bash
# Start the three brokers of docker-compose.yml's kafka-cluster profile outside Docker, on
# 127.0.0.1, each as start-kafka.sh starts the `kafka` service: from its own service's environment,
# only addresses, ports and the data folder changed (kafka_compose.py). Each broker is a folder of
# WORKDIR named after its service (kafka-1, …) with its own pid (process group), ports, log and
# data: stop.sh, a SIGKILL or start-kafka.sh act on one broker alone. Returns once the three serve
# clients. WORKDIR/bootstrap: their compose-network listeners, as a bootstrap servers list;
# WORKDIR/port: the first one.
#   usage: start-kafka-cluster.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$(mkdir -p "$1" && cd "$1" && pwd)"
"$TESTSERVERS_DIR/install-kafka.sh" >/dev/null
(cd "$PROJECT_ROOT" && "${TESTSERVERS_PYTHON:-python3}" -m probablyfresh_dagster_tests.kafka_compose "$workdir" kafka-cluster)

# All at once: a broker that is also a controller finishes starting only once a quorum of the
# voters (2 of 3) elected a leader.
starts=()
for broker in "$workdir"/*/kafka.env; do
  "$TESTSERVERS_DIR/start-kafka.sh" "$(dirname "$broker")" &
  starts+=($!)
done
for start in "${starts[@]}"; do
  wait "$start" || { "$TESTSERVERS_DIR/stop.sh" "$workdir" >&2; exit 1; }
done
echo "Kafka cluster listening on $(cat "$workdir/bootstrap") (data in $workdir)"
