#!/usr/bin/env bash
# Start Apache Kafka in KRaft mode (one node that is both broker and controller) on 127.0.0.1,
# with its data under WORKDIR; return once it serves clients. WORKDIR/port holds the client
# port, WORKDIR/pid the process (group) to stop with stop.sh, WORKDIR/server.log its log.
#   usage: start-kafka.sh WORKDIR
source "$(dirname "$0")/common.sh"

workdir="$(mkdir -p "$1" && cd "$1" && pwd)"
lib="$("$TESTSERVERS_DIR/install-kafka.sh")"
port="$(free_port)"
controller_port="$(free_port)"

cat >"$workdir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$workdir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPERTIES
cat >"$workdir/log4j.properties" <<'LOG4J'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
LOG4J

java_options=(-Xmx512m -Dlog4j.configuration="file:$workdir/log4j.properties" -cp "$lib/*")
cluster_id="$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
java "${java_options[@]}" kafka.tools.StorageTool format --ignore-formatted \
  --cluster-id "$cluster_id" --config "$workdir/server.properties" >"$workdir/format.log" 2>&1 \
  || { cat "$workdir/format.log" >&2; exit 1; }

start_in_background "$workdir" java "${java_options[@]}" kafka.Kafka "$workdir/server.properties"
echo "$port" >"$workdir/port"
# The port opens before the broker has caught up with the controller; this line comes after.
wait_until "$workdir" grep -q "Kafka Server started" "$workdir/server.log"
wait_until "$workdir" port_answers "$port"
echo "Kafka listening on 127.0.0.1:$port (data in $workdir)"
