#!/usr/bin/env bash
# Start Apache Kafka as docker-compose.yml's `kafka` service runs it, outside Docker, on 127.0.0.1,
# with its data under WORKDIR; return once it serves clients. As the apache/kafka image's `launch`
# script does: `kafka.docker.KafkaDockerWrapper setup` turns the service's environment into
# server.properties (one line per KAFKA_* variable) and formats the storage with CLUSTER_ID, then
# `kafka.Kafka` runs on that file. The environment is the compose file's, with .env.example
# substituted and only addresses, ports and the data folder changed
# (probablyfresh_dagster_tests/kafka_compose.py says how).
# WORKDIR/port holds the port of the compose network's listener (PLAINTEXT, the one the stack's own
# services use), WORKDIR/host_port the HOST listener's (SASL/SCRAM), WORKDIR/pid the
# process (group) to stop with stop.sh, WORKDIR/server.log its log, WORKDIR/config the files the
# broker runs on. TESTSERVERS_PYTHON: a Python with the project's requirements (default: python3).
# A WORKDIR that holds kafka.env already (a broker of start-kafka-cluster.sh, or one stopped or
# killed) starts again on it and on its data: as the image's `launch` script does, a setup that
# stops at storage "already formatted" (a restart on its volume) goes on to start the broker.
#   usage: start-kafka.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$(mkdir -p "$1" && cd "$1" && pwd)"
lib="$("$TESTSERVERS_DIR/install-kafka.sh")"
[[ -f "$workdir/kafka.env" ]] \
  || (cd "$PROJECT_ROOT" && "${TESTSERVERS_PYTHON:-python3}" -m probablyfresh_dagster_tests.kafka_compose "$workdir")
mapfile -t service_environment <"$workdir/kafka.env"
mkdir -p "$workdir/config"

# The image's /etc/kafka/docker is kafka-defaults/ (its log4j2 files); nothing is mounted on
# /mnt/shared/config. `env -i`: the container's environment is the service's alone, and any other
# KAFKA_* variable would become a broker property too (make exports .env's KAFKA_PORT, for one).
# JIT and GC for short-lived test JVMs (not broker configuration): C1 only and the serial collector
# take a third of the CPU an idle broker uses with the JVM's defaults (1 s a minute instead of 3;
# the suite runs several brokers beside the tests) and start it a second sooner.
QUICK_JVM="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CICompilerCount=1"
env -i "${service_environment[@]}" "$(command -v java)" $QUICK_JVM -cp "$lib/*" \
  -Dlog4j2.configurationFile="$TESTSERVERS_DIR/kafka-defaults/tools-log4j2.yaml" \
  kafka.docker.KafkaDockerWrapper setup \
  --default-configs-dir "$TESTSERVERS_DIR/kafka-defaults" \
  --mounted-configs-dir "$workdir/mounted" \
  --final-configs-dir "$workdir/config" >"$workdir/setup.log" 2>&1 \
  || grep -qi "already formatted" "$workdir/setup.log" \
  || { cat "$workdir/setup.log" >&2; exit 1; }

start_in_background "$workdir" java -Xmx512m $QUICK_JVM -cp "$lib/*" \
  -Dlog4j2.configurationFile="$workdir/config/log4j2.yaml" kafka.Kafka "$workdir/config/server.properties"
# The port opens before the broker has caught up with the controller; this line comes after.
wait_until "$workdir" grep -q "Kafka Server started" "$workdir/server.log"
wait_until "$workdir" port_answers "$(cat "$workdir/port")"
echo "Kafka listening on 127.0.0.1:$(cat "$workdir/port") (data in $workdir)"
