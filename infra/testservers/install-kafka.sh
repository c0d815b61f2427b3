#!/usr/bin/env bash
# Fetch Apache Kafka's jars (see pom.xml) from Maven Central into the cache, once; print the
# folder holding them. The version is the one of docker-compose.yml's apache/kafka image, so the
# tests cannot run another broker than the stack. Needs Maven and Java 17.
source "$(dirname "$0")/common.sh"

version="$(sed -n 's|^ *image: apache/kafka:\([0-9.]*\) *$|\1|p' "$PROJECT_ROOT/docker-compose.yml")"
[[ -n "$version" ]] || { echo "no apache/kafka:VERSION image in docker-compose.yml" >&2; exit 1; }
lib="$CACHE_DIR/kafka-$version/lib"
if [[ ! -f "$lib/kafka_2.13-$version.jar" ]]; then
  rm -rf "$lib.partial"
  mvn -q -B -f "$TESTSERVERS_DIR/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$version" -DoutputDirectory="$lib.partial" >&2
  rm -rf "$lib"
  mv "$lib.partial" "$lib"
fi
echo "$lib"
