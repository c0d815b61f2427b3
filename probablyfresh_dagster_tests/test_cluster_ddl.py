"""The cluster form of the DDL (cluster_ddl.py), against what the same files create on one node:
every statement parsed by ClickHouse itself (chDB: `EXPLAIN AST`, and `formatQuery`, whose
canonical text the properties are read from), every table replicated under the same engine and
sorting key, read through a Distributed table sharded by its Kafka partition, every statement
`ON CLUSTER`, and anything without a cluster form refused."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from probablyfresh_dagster import raw_load
from probablyfresh_dagster.cluster_ddl import LOCAL_SUFFIX, cluster_form, cluster_statements, mutation_form, run_mutation
from probablyfresh_dagster.ddl_scripts import ddl_scripts
from probablyfresh_dagster.entities import ENTITIES, STORES
from probablyfresh_dagster.events import OutgoingMessage
from probablyfresh_dagster.profiles import docker_backends
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.events import SqliteEventLogResource
from probablyfresh_dagster.settings import PROJECT_ROOT, Settings
from probablyfresh_dagster.sql import run_script, statements

CLUSTER = "probablyfresh"
REPLICATION = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """chDB with the single-node form applied: what the cluster form must match."""
    with ClickHouseResource(dsn=f"chdb:///{tmp_path_factory.mktemp('cluster-ddl') / 'ch'}").client() as client:
        for name, parameters in ddl_scripts():
            run_script(client, name, **dict(parameters))
        yield client


@pytest.fixture(scope="module")
def formatted(engine) -> list[str]:
    """Each cluster statement as ClickHouse formats it once parsed (it raises on any it cannot parse)."""
    texts = []
    for statement in cluster_statements(CLUSTER):
        assert engine.query(f"EXPLAIN AST {statement}").result_rows
        texts.append(engine.query("SELECT formatQuery({statement:String})", parameters={"statement": statement}).first_row[0])
    return texts


@pytest.fixture(scope="module")
def single_node_tables(engine) -> dict[str, tuple[str, str, str]]:
    """Table -> (engine, its arguments, sorting key) of every MergeTree the single-node form creates."""
    rows = engine.query(
        "SELECT name, engine, engine_full, sorting_key FROM system.tables"
        " WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
    ).result_rows
    return {name: (kind, re.sub(r"^\w+(?:\((.*?)\))?.*", r"\1", full, flags=re.S), key) for name, kind, full, key in rows}


def creating(formatted: list[str], kind: str) -> dict[str, str]:
    """The formatted `CREATE <kind>` statements by the name they create."""
    found = (re.match(rf"CREATE (?:OR REPLACE )?{kind} (?:IF NOT EXISTS )?(\w+) ", text) for text in formatted)
    return {match[1]: text for match, text in zip(found, formatted, strict=True) if match}


def test_every_statement_parses_and_runs_on_the_whole_cluster(formatted):
    assert len(formatted) == len(cluster_statements(CLUSTER)) > 60
    for text in formatted:
        assert re.match(rf"(CREATE|ALTER|DROP VIEW) [^\n]* ON CLUSTER {CLUSTER}\b", text), text


def test_every_table_is_replicated_with_its_single_node_engine_and_sorting_key(formatted, single_node_tables):
    tables = creating(formatted, "TABLE")
    local = {name.removesuffix(LOCAL_SUFFIX): text for name, text in tables.items() if name.endswith(LOCAL_SUFFIX)}
    assert set(local) == set(single_node_tables) and {e.raw_table for e in ENTITIES} <= set(local)
    for name, (kind, arguments, sorting_key) in single_node_tables.items():
        engine = f"Replicated{kind}({', '.join(filter(None, [REPLICATION, arguments]))})"
        assert f"\nENGINE = {engine}\n" in local[name], local[name]
        assert re.search(rf"\nORDER BY \(?{re.escape(sorting_key)}\)?(\n|$)", local[name]), local[name]


def test_every_table_is_read_through_a_distributed_table_sharded_by_its_kafka_partition(formatted, engine, single_node_tables):
    """A key, its RAW rows and its MART row share the shard of their Kafka partition."""
    tables = creating(formatted, "TABLE")
    columns = engine.query(
        "SELECT table, name FROM system.columns WHERE database = currentDatabase()"
        " AND name IN ('partition', '_partition') AND type = 'UInt32'"
    ).result_rows
    partition_column = dict(columns)
    for name in single_node_tables:
        local = name + LOCAL_SUFFIX
        sharding = partition_column.get(name, "rand()")
        assert tables[name] == (
            f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {CLUSTER} AS {local}\n"
            f"ENGINE = Distributed({CLUSTER}, currentDatabase(), {local}, {sharding})"
        )
    by_partition = {e.raw_table for e in ENTITIES} | {m for e in ENTITIES for m in e.marts}
    by_partition |= {"mart_rejects", "mart_watermarks", "raw_set_aside"}
    assert by_partition <= set(partition_column)


def test_views_functions_and_alters_keep_their_names_on_the_cluster(formatted, engine):
    views = {
        name
        for (name,) in engine.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'View'"
        ).result_rows
    }
    functions = {
        name for (name,) in engine.query("SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'").result_rows
    }
    assert views and set(creating(formatted, "VIEW")) == views
    assert functions and set(creating(formatted, "FUNCTION")) == functions
    alters = [s for name, parameters in ddl_scripts() for s in statements(name) if re.search(r"^ALTER TABLE", s, re.M)]
    altered = [re.match(r"ALTER TABLE (\w+) ", text)[1] for text in formatted if text.startswith("ALTER")]
    assert alters and len(altered) == 2 * len(alters)
    assert {name.removesuffix(LOCAL_SUFFIX) for name in altered} == {n for n in altered if not n.endswith(LOCAL_SUFFIX)}


def test_a_statement_without_a_cluster_form_is_refused():
    (insert,) = statements("duplicates_log")
    with pytest.raises(ValueError, match="not one CREATE, ALTER or DROP VIEW"):
        cluster_form(insert, CLUSTER, {})
    with pytest.raises(ValueError, match="no Replicated form for the engine of t"):
        cluster_form("CREATE TABLE IF NOT EXISTS t\n(\n    a UInt8\n)\nENGINE = Memory", CLUSTER, {})
    with pytest.raises(ValueError, match="is not a plain identifier"):
        cluster_statements("two words")
    with pytest.raises(ValueError, match="is not a plain identifier"):
        cluster_form(statements("raw")[0], CLUSTER, {"table": "x; DROP TABLE y"})


MUTATIONS = {
    "raw_load/delete_rows": ({"table": STORES.raw_table, "coordinates": [(0, 1), (1, 2)]}, STORES.raw_table),
    "raw_load/reloaded": ({"table": STORES.raw_table}, "raw_reloads"),
}
"""The scripts that delete rows in place: their parameters as their callers give them, and the table they delete from."""


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_in_place_delete_applies_to_the_local_tables_of_every_node(name, engine):
    parameters, table = MUTATIONS[name]
    for statement in statements(name):
        rendered = mutation_form(statement, CLUSTER, parameters)
        # Parsed with its parameters bound, as the server gets it; formatted the way it reads.
        assert engine.query(f"EXPLAIN AST {rendered}", parameters=parameters).result_rows
        text = engine.query("SELECT formatQuery({statement:String})", parameters={"statement": rendered}).first_row[0]
        assert re.match(rf"(ALTER TABLE|DELETE FROM) {table}{LOCAL_SUFFIX} ON CLUSTER {CLUSTER}\s", text), text
    with pytest.raises(ValueError, match="not one ALTER TABLE or DELETE FROM"):
        mutation_form(statements("queries/raw_reload_requested")[0], CLUSTER, parameters)
    with pytest.raises(ValueError, match="is not a plain identifier"):
        mutation_form(statements(name)[0], "two words", parameters)


def test_the_loader_sends_its_delete_to_the_cluster_it_is_given(tmp_path, engine):
    """A reload ends with the lightweight DELETE of its request: to every node on a cluster. chDB
    runs no distributed DDL (no Keeper), so it refuses an `ON CLUSTER` statement as such, once the
    local table it names exists; by then the rows went in."""
    log, client = SqliteEventLogResource(path=str(tmp_path / "log.sqlite3")), engine
    with log.open() as events:
        events.ensure_topic(STORES.name)
        events.publish(STORES.name, [OutgoingMessage(f"s{i}", f'{{"store_id": "s{i}"}}'.encode()) for i in range(3)])
    with log.open() as events:
        assert raw_load.load_raw(client, events, STORES, cluster=None) == 3
        for cluster in (None, CLUSTER):
            client.command("INSERT INTO raw_reloads (raw_table) VALUES ({table:String})", parameters={"table": STORES.raw_table})
            if cluster is None:
                raw_load.load_raw(client, events, STORES)
            else:
                client.command(f"CREATE TABLE raw_reloads{LOCAL_SUFFIX} AS raw_reloads")
                try:
                    with pytest.raises(Exception, match="Replicated DDL queries are disabled"):
                        raw_load.load_raw(client, events, STORES, cluster=cluster)
                finally:
                    client.command(f"DROP TABLE raw_reloads{LOCAL_SUFFIX}")
            requested = client.query("SELECT count() FROM raw_reloads").first_row[0]
            assert requested == (0 if cluster is None else 1)
        # On one node the same script runs as it is.
        run_mutation(client, "raw_load/reloaded", None, table=STORES.raw_table)
        assert client.query("SELECT count() FROM raw_reloads").first_row[0] == 0


def test_the_command_prints_the_statements():
    printed = subprocess.run(
        [sys.executable, "-m", "probablyfresh_dagster.cluster_ddl", "--cluster", CLUSTER],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert printed.split(";\n\n")[:-1] == cluster_statements(CLUSTER)


@pytest.mark.parametrize(("variable", "cluster"), [(None, None), ("", None), (CLUSTER, CLUSTER)])
def test_the_docker_profile_names_the_cluster_from_clickhouse_cluster(monkeypatch, variable, cluster):
    if variable is None:
        monkeypatch.delenv("CLICKHOUSE_CLUSTER", raising=False)
    else:
        monkeypatch.setenv("CLICKHOUSE_CLUSTER", variable)
    assert docker_backends(Settings(profile="docker"))["clickhouse"].cluster == cluster
