"""What the Dagster catalog shows of the ClickHouse assets: table name, columns, code version, owners, kinds."""

from probablyfresh_dagster.assets.raw import RAW_SQL
from probablyfresh_dagster.entities import CLICKHOUSE_STAGES, CUSTOMERS, ENTITIES, PURCHASES, Stage
from probablyfresh_dagster.sql import code_version

from .platforms import materialization


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


def test_a_materialized_mart_reports_its_columns_as_clickhouse_has_them(loaded_run):
    _, result = loaded_run
    schema = materialization(result, CUSTOMERS.asset_name(Stage.MART))["dagster/column_schema"]
    columns = {column.name: column for column in schema.columns}
    assert columns["customer_id"].type == "String" and columns["customer_id"].description is None
    assert columns["email"].description == "Fernet ciphertext of the normalized email"
    raw = materialization(result, PURCHASES.asset_name(Stage.CLICKHOUSE_RAW))["dagster/column_schema"]
    assert [c.name for c in raw.columns][:4] == ["topic", "partition", "offset", "key"]
