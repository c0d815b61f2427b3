#!/bin/sh
# The grafana service's entrypoint (docker-compose.yml): Grafana's provisioning from the files
# beside this script, with notifications/telegram.yaml when TELEGRAM_BOT_TOKEN is set and
# notifications/no-telegram.yaml when it is not, then the image's own entrypoint. Grafana refuses
# to start on a Telegram contact point without a bot token; without one the alert rule is still
# provisioned and shows in Grafana, and nothing is sent.
#
# The folder is made anew at every start (a restart may change the token) under TMPDIR, since the
# mounted files are read-only, and handed to the image's /run.sh as GF_PATHS_PROVISIONING.
# GRAFANA_RUN_SH stands in for /run.sh in the tests. Never prints the token.
#
# The datasource reads the ClickHouse of CLICKHOUSE_DSN (the Dagster services' own), on port 8123:
# its host goes to the provisioning as CLICKHOUSE_HOST.
set -eu

address=${CLICKHOUSE_DSN:?compose sets it from CLICKHOUSE_STACK_DSN}
address=${address#*://}
address=${address%%/*}
address=${address##*@}
if [ "${address##*:}" != 8123 ]; then
    echo "probablyfresh: CLICKHOUSE_STACK_DSN must name a server's HTTP port 8123, as the stack's ClickHouse servers have" >&2
    exit 1
fi
export CLICKHOUSE_HOST="${address%:*}"

files=$(dirname "$0")
provisioning="${TMPDIR:-/tmp}/probablyfresh-provisioning"

rm -rf "$provisioning"
cp -R "$files/provisioning" "$provisioning"
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ]; then
    if [ -z "${TELEGRAM_CHAT_ID:-}" ]; then
        echo "probablyfresh: TELEGRAM_BOT_TOKEN is set but TELEGRAM_CHAT_ID is empty: set both in .env, or neither" >&2
        exit 1
    fi
    cp "$files/notifications/telegram.yaml" "$provisioning/alerting/"
    echo "probablyfresh: Telegram contact point provisioned: duplicate alerts go to chat TELEGRAM_CHAT_ID"
else
    cp "$files/notifications/no-telegram.yaml" "$provisioning/alerting/"
    echo "probablyfresh: TELEGRAM_BOT_TOKEN is empty: no Telegram contact point, duplicate alerts only show in Grafana"
fi

export GF_PATHS_PROVISIONING="$provisioning"
exec "${GRAFANA_RUN_SH:-/run.sh}" "$@"
