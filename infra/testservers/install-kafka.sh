#!/usr/bin/env bash
# Fetch Apache Kafka's jars (see pom.xml) from Maven Central into the cache, once; print the
# folder holding them. Needs Maven and Java 17.
source "$(dirname "$0")/common.sh"

version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$TESTSERVERS_DIR/pom.xml")"
lib="$CACHE_DIR/kafka-$version/lib"
if [[ ! -f "$lib/kafka_2.13-$version.jar" ]]; then
  rm -rf "$lib.partial"
  mvn -q -B -f "$TESTSERVERS_DIR/pom.xml" dependency:copy-dependencies -DoutputDirectory="$lib.partial" >&2
  rm -rf "$lib"
  mv "$lib.partial" "$lib"
fi
echo "$lib"
