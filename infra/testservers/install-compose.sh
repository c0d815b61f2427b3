#!/usr/bin/env bash
# Build the loader of Docker Compose v2.40.3's `docker-compose config` into the cache, once; print
# the binary's path. Needs Go (and the Go module proxy on a cold cache). The tests run only
# `docker-compose --project-directory DIR --file FILE --env-file FILE [--profile NAME …] config
# --format json`, which resolves docker-compose.yml with an env file and needs no Docker engine.
#
# compose-config/ is that command alone: compose-go v2.9.1 (what compose v2.40.3 pins, its
# dependencies at compose's versions) with the project options, post-processing, JSON output and
# error messages of compose's own `config` code (cmd/compose/config.go, compose.go), so that CI does
# not build the whole compose CLI for one command (the build times and the equivalence check are in
# the README's test-server timings). Its folder is named after a hash of its source, so a change to
# it rebuilds it.
source "$(dirname "$0")/common.sh"

source_dir="$TESTSERVERS_DIR/compose-config"
digest="$(cat "$source_dir/main.go" "$source_dir/go.mod" "$source_dir/go.sum" | sha256sum | cut -c1-12)"
binary="$CACHE_DIR/compose-config-v2.40.3-$digest/docker-compose"
if [[ ! -x "$binary" ]]; then
  mkdir -p "$(dirname "$binary")"
  (cd "$source_dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-w" -o "$binary.partial" .)
  mv "$binary.partial" "$binary"
fi
echo "$binary"
