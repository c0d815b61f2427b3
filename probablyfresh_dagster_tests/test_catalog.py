"""What the Dagster catalog shows of the assets: table name, columns with their DDL comments, code
version, owners, kinds, and what every metadata key of an asset and of its checks means; and the
launchpad's default config, which names no folder of the machine."""

import re
import tempfile
from pathlib import Path

import dagster as dg
from dagster._core.snap import JobSnap
from dagster._core.snap.snap_to_yaml import default_values_yaml_from_type_snap

from probablyfresh_dagster import settings
from probablyfresh_dagster.assets.raw import RAW_SQL
from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import CLICKHOUSE_STAGES, ENTITIES, STORES, Stage, entity_of
from probablyfresh_dagster.profiles import profile_resources
from probablyfresh_dagster.settings import PROJECT_ROOT, Settings
from probablyfresh_dagster.sql import code_version

from .platforms import materialization, rows

PLATFORM_TABLES = ("mart_rejects", "mart_watermarks", "duplicates_log", "raw_set_aside", "kafka_lag")
"""The tables beside each entity's RAW and MART tables that the RAW and MART steps write."""


def columns_of(platform, table: str) -> list[tuple[str, str, str]]:
    where = "database = currentDatabase() AND table = {t:String}"
    return rows(platform, f"SELECT name, type, comment FROM system.columns WHERE {where} ORDER BY position", t=table)


def schema_columns(schema: dg.TableSchema) -> list[tuple[str, str, str]]:
    return [(c.name, c.type, c.description or "") for c in schema.columns]


def test_raw_and_mart_assets_name_their_table_and_version_their_sql(platform):
    graph = platform.defs.resolve_asset_graph()
    for entity in ENTITIES:
        raw, mart = (graph.get(entity.asset_key(stage)) for stage in CLICKHOUSE_STAGES)
        assert raw.metadata["dagster/table_name"] == entity.raw_table
        assert mart.metadata["dagster/table_name"] == entity.mart_table
        assert raw.code_version == code_version(*RAW_SQL) != code_version("raw")
        assert mart.code_version != raw.code_version and len(mart.code_version) == len(raw.code_version)
        for node in (raw, mart):
            assert node.owners == ["team:data-platform"] and node.kinds == {"clickhouse"}
    versions = {graph.get(e.asset_key(Stage.MART)).code_version for e in ENTITIES}
    assert len(versions) == len(ENTITIES)  # each MART also versions its own marts/E.sql


def test_every_column_of_every_raw_and_mart_table_has_a_comment(loaded):
    tables = [*(t for e in ENTITIES for t in (e.raw_table, *e.marts)), *PLATFORM_TABLES]
    for table in tables:
        columns = columns_of(loaded, table)
        assert len(columns) > 3, table
        assert [name for name, _, comment in columns if not comment.strip()] == [], table


def test_each_asset_shows_every_table_it_writes_with_the_column_comments(loaded_run):
    platform, result = loaded_run
    for entity in ENTITIES:
        raw = materialization(result, entity.asset_name(Stage.CLICKHOUSE_RAW))
        assert schema_columns(raw["dagster/column_schema"]) == columns_of(platform, entity.raw_table)
        mart = materialization(result, entity.asset_name(Stage.MART))
        assert schema_columns(mart["dagster/column_schema"]) == columns_of(platform, entity.mart_table)
        further = {key.removesuffix("_columns"): value for key, value in mart.items() if key.endswith("_columns")}
        assert list(further) == list(entity.marts[1:])
        for table, schema in further.items():
            assert schema_columns(schema) == columns_of(platform, table)
    purchases = materialization(result, "purchases_mart")["purchase_items_mart_columns"]
    assert ("line_no", "UInt16", "The line's position in the purchase's items, from 1") in schema_columns(purchases)


def described(description: str) -> dict[str, set[str]]:
    """The keys an asset description explains: its own (under "") and each check's by name."""
    sections = re.split(r"\*\*Check `(\w+)`\*\*", description.split("**Metadata**", 1)[1])
    titles = ["", *sections[1::2]]
    return {title: set(re.findall(r"^- `([^`]+)`: \S", text, re.M)) for title, text in zip(titles, sections[::2], strict=True)}


def test_every_metadata_key_an_asset_or_a_check_emits_is_explained_in_the_asset_description(loaded_run):
    platform, result = loaded_run
    graph = platform.defs.resolve_asset_graph()
    explained = {key: described(graph.get(key).description) for key in graph.get_all_asset_keys()}
    emitted: set[tuple[dg.AssetKey, str, str]] = set()
    for event in result.get_asset_materialization_events():
        emitted |= {(event.asset_key, "", key) for key in event.materialization.metadata}
    for check in result.get_asset_check_evaluations():
        emitted |= {(check.asset_key, check.check_name, key) for key in check.metadata}
    unexplained = [(k.to_user_string(), c, m) for k, c, m in emitted if not m.startswith("dagster/") and m not in explained[k][c]]
    assert unexplained == []
    assert {entity_of(k) for k, _, _ in emitted if k.to_user_string().endswith("_mart")} == set(ENTITIES)
    assert "judged_rows" in explained[dg.AssetKey("stores_mart")][""]
    assert "threshold_percent" in explained[dg.AssetKey("stores_mart")]["duplicate_share"]


def launchpad_defaults(job: dg.JobDefinition) -> str:
    """The run config the launchpad opens a job with: the YAML of every default (Dagster's own)."""
    snapshot = JobSnap.from_job_def(job)
    schema = snapshot.config_schema_snapshot
    (mode,) = snapshot.mode_def_snaps
    assert mode.root_config_key is not None
    return default_values_yaml_from_type_snap(schema, schema.get_config_snap(mode.root_config_key))


def test_the_launchpad_defaults_name_no_folder_of_this_machine():
    defs = build_definitions(Settings())
    for job in defs.resolve_all_job_defs():
        defaults = launchpad_defaults(job)
        for folder in (PROJECT_ROOT, Path.home(), Path(tempfile.gettempdir())):
            assert str(folder) not in defaults, job.name
    assert "root: '{project}/data'" in launchpad_defaults(defs.resolve_job_def("pipeline"))


def test_the_project_folder_in_a_configured_path_is_the_one_the_backends_use(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "PROJECT_ROOT", tmp_path)
    monkeypatch.delenv("FERNET_KEY", raising=False)
    state = tmp_path / ".probablyfresh"
    resources = profile_resources(Settings(state_dir=state, data_dir=tmp_path / "data"))
    assert resources["files"].root == "{project}/data" and resources["files"].folder(STORES) == tmp_path / "data/stores"
    with resources["mongo"].open(), resources["kafka"].open(), resources["clickhouse"].client() as client:
        assert client.command("SELECT 1") == 1
    resources["fernet"].cipher()
    assert sorted(p.name for p in state.iterdir() if not p.name.endswith(".lock")) == [
        "clickhouse",
        "fernet.key",
        "kafka.sqlite3",
        "mongo.sqlite3",
    ]
