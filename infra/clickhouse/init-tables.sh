# shellcheck shell=bash disable=SC2154  # clickhouseclient is the entrypoint's (see below)
# Creates, when the ClickHouse container starts, every table and view the MART run creates
# (probablyfresh_dagster/mart_load.py, `prepare`), and the RAW step's kafka_lag and raw_set_aside,
# from the same files: Grafana's dashboard and alert rule then read empty tables on a fresh stack
# instead of failing on missing ones (which the alert rule reports as an error, DatasourceError
# notifications included).
#
# docker-compose.yml mounts it into /docker-entrypoint-initdb.d and infra/clickhouse at
# /opt/probablyfresh/clickhouse. Not executable on purpose: the image's entrypoint sources such a
# script, and `clickhouseclient` is the entrypoint's own client command (multiquery, on 127.0.0.1,
# as CLICKHOUSE_USER), the one it runs `*.sql` files with. Every statement is IF NOT EXISTS or
# OR REPLACE, so it is safe on every start.

probablyfresh_create_tables() {
    local sql=/opt/probablyfresh/clickhouse entity
    "${clickhouseclient[@]}" --queries-file "$sql/mart_common.sql" \
        --queries-file "$sql/kafka_lag.sql" --queries-file "$sql/raw_set_aside.sql"
    for entity in stores products customers purchases; do
        "${clickhouseclient[@]}" --param_table="${entity}_raw" \
            --queries-file "$sql/raw.sql" --queries-file "$sql/marts/$entity.sql"
    done
}

probablyfresh_create_tables
