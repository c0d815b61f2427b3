"""The cluster form of the DDL in `infra/clickhouse/`: the same files, rendered for a ClickHouse
cluster of replicated shards (README, "ClickHouse as a cluster").

Each statement is rewritten in three small, explicit ways, and a statement of any other kind
fails the rendering, so a new file cannot slip into the cluster without its cluster form:

- `CREATE TABLE t … ENGINE = XMergeTree(args)` creates `t_local` on every node (`ON CLUSTER`),
  engine `ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', args)`
  (the macros come from each node's config, infra/clickhouse/cluster/), then `t` itself as a
  `Distributed` table over the `t_local` tables. Every query the platform runs keeps reading and
  writing `t`, now across the cluster.
- `Distributed` shards a table with a Kafka partition column (`partition` in RAW, `raw_set_aside`,
  `mart_rejects`, `mart_watermarks`; `_partition` in the MARTs) by that column. The partition is
  the hash of the record's key (the producer's partitioner), so a key, its RAW rows and its MART
  row live on one shard, where ReplacingMergeTree can collapse them. A table without one (a log of
  runs) is sharded by `rand()`.
- `ALTER TABLE t` applies to `t_local` and to `t`; `CREATE VIEW`, `CREATE FUNCTION` and `DROP VIEW`
  gain `ON CLUSTER`.

ClickHouse accepts neither a query parameter after `ON CLUSTER` nor one for `AS` in a `CREATE
TABLE … AS`, so a table named by a parameter (`{table:Identifier}` in raw.sql) is written out here.

The two scripts that delete rows in place (`raw_load/delete_rows`, `raw_load/reloaded`) have a
cluster form too, `mutation_form`: a `Distributed` table takes neither a mutation nor a lightweight
`DELETE`, so each applies to `t_local` on every node (`ON CLUSTER`), where each shard deletes its
own rows.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.ddl_scripts import ddl_scripts
from probablyfresh_dagster.private_files import owner_only_process
from probablyfresh_dagster.scrub import secrets_kept_out
from probablyfresh_dagster.sql import run_script, statements

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"
NO_PARTITION_SHARDING = "rand()"

_NAME = re.compile(r"^[A-Za-z_]\w*$")
_HEAD = re.compile(
    r"^(?P<verb>CREATE TABLE IF NOT EXISTS|ALTER TABLE|DROP VIEW IF EXISTS"
    r"|CREATE (?:OR REPLACE )?(?:VIEW|FUNCTION)(?: IF NOT EXISTS)?)"
    r" (?P<name>\{(?P<parameter>\w+):Identifier\}|\w+)",
    re.MULTILINE,
)
_MUTATION_HEAD = re.compile(r"^(?P<verb>ALTER TABLE|DELETE FROM) (?P<name>\{(?P<parameter>\w+):Identifier\}|\w+)", re.MULTILINE)
_ENGINE = re.compile(r"^ENGINE = (?P<engine>\w*MergeTree)(?:\((?P<arguments>[^)]*)\))?$", re.MULTILINE)
_PARTITION_COLUMN = re.compile(r"^\s+(?P<column>_?partition)\s+UInt32\b", re.MULTILINE)


def cluster_statements(cluster: str) -> list[str]:
    """The cluster form of every statement of the platform's DDL scripts (`ddl_scripts`)."""
    _require_name(cluster, "cluster")
    return [
        rendered
        for name, parameters in ddl_scripts()
        for statement in statements(name)
        for rendered in cluster_form(statement, cluster, dict(parameters))
    ]


def cluster_form(statement: str, cluster: str, parameters: Mapping[str, str]) -> list[str]:
    """The statements that make `statement` hold on `cluster` (see the module's docstring)."""
    head, name = _head(_HEAD, statement, parameters, "CREATE, ALTER or DROP VIEW")
    on = f" ON CLUSTER {cluster}"
    verb = head["verb"]

    def named(table: str) -> str:
        return f"{statement[: head.start()]}{verb} {table}{on}{statement[head.end() :]}"

    if verb == "ALTER TABLE":
        return [named(name + LOCAL_SUFFIX), named(name)]
    if verb != "CREATE TABLE IF NOT EXISTS":
        return [named(name)]
    local = _ENGINE.sub(_replicated, named(name + LOCAL_SUFFIX))
    if local == named(name + LOCAL_SUFFIX):
        raise ValueError(f"no Replicated form for the engine of {name}:\n{statement}")
    partition = _PARTITION_COLUMN.search(statement)
    sharding = partition["column"] if partition else NO_PARTITION_SHARDING
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {name}{on} AS {name}{LOCAL_SUFFIX}"
        f" ENGINE = Distributed({cluster}, currentDatabase(), {name}{LOCAL_SUFFIX}, {sharding})"
    )
    return [local, distributed]


def mutation_form(statement: str, cluster: str, parameters: Mapping[str, Any]) -> str:
    """`statement`, an `ALTER TABLE t … DELETE` or a `DELETE FROM t`, applied to `t_local` on every
    node of `cluster` (see the module's docstring)."""
    head, name = _head(_MUTATION_HEAD, statement, parameters, "ALTER TABLE or DELETE FROM")
    _require_name(cluster, "cluster")
    return f"{statement[: head.start()]}{head['verb']} {name}{LOCAL_SUFFIX} ON CLUSTER {cluster}{statement[head.end() :]}"


def run_mutation(client: Client, name: str, cluster: str | None, **parameters: Any) -> None:
    """Apply a script of in-place deletes on the one node, or in its cluster form on `cluster`."""
    if cluster is None:
        run_script(client, name, **parameters)
        return
    for statement in statements(name):
        client.command(mutation_form(statement, cluster, parameters), parameters=parameters)


def _head(pattern: re.Pattern[str], statement: str, parameters: Mapping[str, Any], kinds: str) -> tuple[re.Match[str], str]:
    """The one head of `statement` that `pattern` finds, and the table it names (a parameter's value)."""
    heads = list(pattern.finditer(statement))
    if len(heads) != 1:
        raise ValueError(f"no cluster form for a statement that is not one {kinds}:\n{statement}")
    name = parameters[heads[0]["parameter"]] if heads[0]["parameter"] else heads[0]["name"]
    _require_name(name, "table")
    return heads[0], name


def _replicated(engine: re.Match[str]) -> str:
    arguments = [f"'{REPLICA_PATH}'", f"'{REPLICA_NAME}'", *filter(None, [engine["arguments"]])]
    return f"ENGINE = Replicated{engine['engine']}({', '.join(arguments)})"


def _require_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} name {name!r} is not a plain identifier")


def create_cluster_tables(client: Client, cluster: str) -> int:
    """Apply the cluster form of every script (each statement is IF NOT EXISTS or OR REPLACE, so
    again is harmless); the number of statements run."""
    rendered = cluster_statements(cluster)
    for statement in rendered:
        client.command(statement)
    return len(rendered)


def main(argv: list[str] | None = None) -> None:
    """Print the cluster DDL, or apply it on the ClickHouse at `CLICKHOUSE_DSN` as `CLICKHOUSE_USER`
    with `CLICKHOUSE_PASSWORD` (`--apply`: README, "ClickHouse as a cluster")."""
    owner_only_process()
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cluster", required=True, help="the cluster's name in remote_servers")
    parser.add_argument("--apply", action="store_true", help="run it on CLICKHOUSE_DSN instead of printing it")
    args = parser.parse_args(argv)
    if not args.apply:
        print("".join(f"{statement};\n\n" for statement in cluster_statements(args.cluster)), end="")
        return
    with secrets_kept_out(os.environ.get("CLICKHOUSE_PASSWORD")):
        client = clickhouse_connect.get_client(
            dsn=os.environ["CLICKHOUSE_DSN"],
            username=os.environ.get("CLICKHOUSE_USER") or None,
            password=os.environ.get("CLICKHOUSE_PASSWORD", ""),
        )
        applied = create_cluster_tables(client, args.cluster)
    print(f"{applied} statements applied on cluster {args.cluster}")


if __name__ == "__main__":
    main()
