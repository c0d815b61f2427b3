#!/usr/bin/env bash
# Build Docker Compose v2 (the standalone `docker-compose` CLI) from the Go module proxy into the
# cache, once; print the binary's path. Needs Go. The tests run only `docker-compose config`,
# which resolves docker-compose.yml with an env file and needs no Docker engine.
#
# Not `go install …/cmd@version`: the module's go.mod has `exclude` directives, which go install
# refuses outside the main module. So the binary is built inside the downloaded module, as the
# main module with its own go.sum, the way its Makefile builds it (the version stamped in).
source "$(dirname "$0")/common.sh"

module=github.com/docker/compose/v2
version=v2.40.3
binary="$CACHE_DIR/compose-$version/docker-compose"
if [[ ! -x "$binary" ]]; then
  module_dir="$(go_module_dir "$module@$version")"
  mkdir -p "$(dirname "$binary")"
  (cd "$module_dir" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-w -X $module/internal.Version=$version" -o "$binary.partial" ./cmd)
  mv "$binary.partial" "$binary"
fi
echo "$binary"
