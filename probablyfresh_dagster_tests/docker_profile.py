"""`make run` on the docker profile, its backends the test servers: Kafka (one broker or the
cluster), FerretDB for MongoDB, chDB for ClickHouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from pymongo import MongoClient

from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource

from .run_state import delivery_figures, marts
from .support import local_run_env


def broker_environment(root: Path, bootstrap_servers: str, ferretdb_port: int) -> dict[str, str]:
    """The docker profile on the test servers, its MongoDB database emptied (only the tests on a
    broker use the profile's default database name on the shared FerretDB)."""
    env = local_run_env(root) | {
        "PROBABLYFRESH_PROFILE": "docker",
        "MONGO_URL": f"mongodb://127.0.0.1:{ferretdb_port}/",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "KAFKA_PARTITIONS": "3",
        "CLICKHOUSE_DSN": f"chdb:///{root / 'state' / 'clickhouse'}",
        "FERNET_KEY": Fernet.generate_key().decode(),
    }
    client: MongoClient[dict[str, Any]]
    with MongoClient(env["MONGO_URL"]) as client:
        client.drop_database(MongoDocumentStoreResource(url=env["MONGO_URL"]).database)
    return env


def assert_delivered_exactly_once(root: Path, env: dict[str, str], clean_run: tuple[dict, dict]) -> dict[str, dict[str, int]]:
    """Assert that the runs on `env` left, per entity, as many RAW rows as the clean run (`clean_run`
    fixture), each published version once and each message once in RAW, and the clean run's
    MARTs; return the delivery figures."""
    clean_marts, clean_figures = clean_run
    figures = delivery_figures(
        root / "state",
        KafkaEventLogResource(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"]),
        ClickHouseResource(dsn=env["CLICKHOUSE_DSN"]),
    )
    assert {name: f["raw_rows"] for name, f in figures.items()} == {name: f["raw_rows"] for name, f in clean_figures.items()}
    assert all(f["republished_versions"] == f["repeated_raw_offsets"] == 0 for f in figures.values())
    assert all(f["raw_rows"] == f["messages"] for f in figures.values())
    assert marts(root / "state", env["FERNET_KEY"].encode()) == clean_marts
    return figures
