"""A run killed mid-publish on a real Kafka broker (with FerretDB for MongoDB) is finished by the
next one exactly once: the same assertions as `test_crashes`, on the docker profile's clients.

The cases share one broker (a start takes 10-25 s), emptied before each: topics are named after
the entities. Each case gets a fresh database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from kafka import KafkaAdminClient
from pymongo import MongoClient

from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource

from .crashing_run import BROKER_POINTS
from .processes import kill_at, make_run
from .run_state import delivery_figures, marts
from .servers import running
from .support import local_run_env, wait_for

# One worker runs the cases, so that they share its broker.
pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.xdist_group("broker_crashes")]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running("kafka", tmp_path_factory.mktemp("kafka")) as port:
        yield port


def emptied(kafka_port: int) -> int:
    """The broker without the topics and the consumer groups' offsets an earlier case left: as
    new to the pipeline as a broker of its own."""
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{kafka_port}")
    try:
        if topics := _topics(admin):
            admin.delete_topics(topics)
        if groups := [group["group_id"] for group in admin.list_groups()]:
            admin.delete_groups(groups)
        wait_for(lambda: not _topics(admin), 60, "the earlier case's topics to be deleted")
    finally:
        admin.close()
    return kafka_port


def _topics(admin: KafkaAdminClient) -> list[str]:
    return [topic for topic in admin.list_topics() if not topic.startswith("__")]


def broker_environment(root: Path, kafka_port: int, ferretdb_port: int) -> dict[str, str]:
    """The docker profile on the test servers, its MongoDB database emptied (only these tests use
    the profile's default database name on the shared FerretDB)."""
    env = local_run_env(root) | {
        "PROBABLYFRESH_PROFILE": "docker",
        "MONGO_URL": f"mongodb://127.0.0.1:{ferretdb_port}/",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "KAFKA_PARTITIONS": "3",
        "CLICKHOUSE_DSN": f"chdb:///{root / 'state' / 'clickhouse'}",
        "FERNET_KEY": Fernet.generate_key().decode(),
    }
    client: MongoClient[dict[str, Any]]
    with MongoClient(env["MONGO_URL"]) as client:
        client.drop_database(MongoDocumentStoreResource(url=env["MONGO_URL"]).database)
    return env


@pytest.mark.parametrize("point", list(BROKER_POINTS))
def test_a_run_killed_mid_publish_on_a_broker_is_finished_exactly_once(
    point,
    tmp_path,
    broker,
    ferretdb_port,
    clean_run,
) -> None:
    clean_marts, clean_figures = clean_run
    env = broker_environment(tmp_path, emptied(broker), ferretdb_port)
    kill_at(point, env, tmp_path)
    started = time.monotonic()
    rerun = make_run(env, tmp_path / "rerun.log")
    assert rerun == 0, (tmp_path / "rerun.log").read_text()[-4000:]
    print(f"{point}: re-run in {time.monotonic() - started:.1f} s")
    figures = delivery_figures(
        tmp_path / "state",
        KafkaEventLogResource(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"]),
        ClickHouseResource(dsn=env["CLICKHOUSE_DSN"]),
    )

    assert {name: f["raw_rows"] for name, f in figures.items()} == {name: f["raw_rows"] for name, f in clean_figures.items()}
    assert all(f["republished_versions"] == f["repeated_raw_offsets"] == 0 for f in figures.values())
    assert all(f["raw_rows"] == f["messages"] for f in figures.values())
    assert marts(tmp_path / "state", env["FERNET_KEY"].encode()) == clean_marts
