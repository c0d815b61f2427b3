"""A state folder that runs out of space, hits the file size limit or refuses its user: each step
checks the free space before it writes, and a failure's first line names its cause and where.

Every cause is real: a tmpfs really filled, a real RLIMIT_FSIZE in a subprocess, a real refusal
(root without CAP_DAC_OVERRIDE before a folder another user owns), a real closed port."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.documents import SourceDocument
from probablyfresh_dagster.entities import LOAD_STAGES, Stage
from probablyfresh_dagster.failure_causes import StateFailure
from probablyfresh_dagster.free_space import MIN_FREE_BYTES_ENV, NotEnoughSpace, free_bytes, size
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource, SqliteDocumentStoreResource
from probablyfresh_dagster.resources.events import KafkaEventLogResource, SqliteEventLogResource

from .failing_steps import fill, headlines, in_subprocess, small_filesystem, stage
from .platforms import make_platform
from .support import free_port

FULL = r"Disk full: {folder} has \d+(\.\d)? (B|KiB|MiB) free \(.+\)"


@pytest.fixture
def platform_root(tmp_path, monkeypatch):
    """A platform's root (state and landing zone) on a 16 MiB tmpfs, the files generated, no margin."""
    monkeypatch.delenv("FERNET_KEY", raising=False)
    monkeypatch.setenv(MIN_FREE_BYTES_ENV, "0")
    with small_filesystem(tmp_path / "fs") as root:
        generate(GeneratorConfig(purchases=20), root / "data")
        yield root


def run_up_to(root: Path, last: str):
    """Run every stage before `last` (they must pass), and return a platform on `root`."""
    platform = make_platform(root)
    for earlier in LOAD_STAGES[: LOAD_STAGES.index(last)]:
        assert platform.run(stage(earlier)).success, earlier
    return platform


def tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every folder and file under `root`: whether a folder, size, modification time."""
    entries = {}
    for folder, folders, files in os.walk(root):
        for name in [*folders, *files]:
            status = os.lstat(Path(folder, name))
            entries[str(Path(folder, name).relative_to(root))] = (name in folders, status.st_size, status.st_mtime_ns)
    return entries


MARGIN_FOLDERS = {
    Stage.MONGO_COLLECTION: "data/_rejected",
    Stage.KAFKA_TOPIC: "state",
    Stage.CLICKHOUSE_RAW: "state/clickhouse",
    Stage.MART: "state/clickhouse",
}
"""The first folder each stage writes, where it finds the margin missing."""


@pytest.mark.parametrize("last", LOAD_STAGES)
def test_a_step_stops_before_writing_when_free_space_is_under_the_margin(platform_root, monkeypatch, last):
    platform = run_up_to(platform_root, last)
    free, before = free_bytes(platform_root), tree(platform_root)

    monkeypatch.setenv(MIN_FREE_BYTES_ENV, str(free + 1))
    refused = platform.run(stage(last))

    folder = platform_root / MARGIN_FOLDERS[last]
    expected = f"Not enough free space in {folder}: {size(free)} free, {size(free + 1)} needed ({MIN_FREE_BYTES_ENV})"
    assert refused.success is False and set(headlines(refused)) == {expected}
    assert tree(platform_root) == before

    monkeypatch.setenv(MIN_FREE_BYTES_ENV, str(free - (4 << 20)))  # a stage here writes under 4 MiB
    assert platform.run(stage(last)).success


@pytest.mark.parametrize("backend", [SqliteDocumentStoreResource, SqliteEventLogResource])
def test_an_embedded_store_is_not_even_created_under_the_margin(tmp_path, monkeypatch, backend):
    with small_filesystem(tmp_path / "state", "1m") as state:
        monkeypatch.setenv(MIN_FREE_BYTES_ENV, str(free_bytes(state) + 1))
        with pytest.raises(NotEnoughSpace, match=f"^Not enough free space in {re.escape(str(state))}: "):
            with backend(path=str(state / "backend.sqlite3")).open():
                pass
        assert list(state.iterdir()) == []


def test_the_margin_defaults_to_64_mib_and_refuses_what_is_not_a_byte_count(platform_root, monkeypatch):
    platform = make_platform(platform_root)
    monkeypatch.delenv(MIN_FREE_BYTES_ENV)
    assert headlines(platform.run("stores_mongo_collection")) == [
        f"Not enough free space in {platform_root / 'data/_rejected'}: {size(free_bytes(platform_root))} free,"
        f" 64.0 MiB needed ({MIN_FREE_BYTES_ENV})"
    ]
    monkeypatch.setenv(MIN_FREE_BYTES_ENV, "1e6")
    assert headlines(platform.run("stores_mongo_collection")) == [
        f"{MIN_FREE_BYTES_ENV} must be a whole number of bytes, got '1e6'"
    ]


@pytest.mark.parametrize(
    ("last", "leave", "folder"),
    [
        (Stage.MONGO_COLLECTION, 16 << 10, "state"),  # SQLite: "database or disk is full" as it opens
        (Stage.KAFKA_TOPIC, 16 << 10, "state"),  # SQLite: a bare "disk I/O error" switching to WAL
        (Stage.CLICKHOUSE_RAW, 300 << 10, "state/clickhouse"),  # chDB: "Cannot reserve 1.00 MiB"
        (Stage.MART, 300 << 10, "state/clickhouse"),
        (Stage.MART, 16 << 10, "state/clickhouse"),  # chDB: "There is no metadata of table", then no engine
    ],
)
def test_a_disk_filling_up_during_a_step_is_named_with_the_folder_and_its_free_space(platform_root, last, leave, folder):
    platform = run_up_to(platform_root, last)
    fill(platform_root, leave)

    failed = headlines(platform.run(stage(last)))

    assert failed, "the step did not fail"
    assert [h for h in failed if not re.fullmatch(FULL.format(folder=re.escape(str(platform_root / folder))), h)] == []


def test_a_transaction_cut_by_a_full_disk_is_reported_as_such_not_as_the_failed_rollback(tmp_path, monkeypatch):
    monkeypatch.setenv(MIN_FREE_BYTES_ENV, "0")
    with small_filesystem(tmp_path / "state", "1m") as state:
        documents = SqliteDocumentStoreResource(path=str(state / "mongo.sqlite3"))
        big = [SourceDocument(f"s{i}", f"k{i}", {"text": os.urandom(2000).hex()}) for i in range(400)]
        with documents.open() as store, pytest.raises(StateFailure) as failure:
            store.upsert("stores", big)  # one transaction of 400 documents: 1.6 MB
        assert re.fullmatch(FULL.format(folder=re.escape(str(state))), str(failure.value))
        assert str(failure.value).endswith("(the SQLite file mongo.sqlite3)")
        assert isinstance(failure.value.__cause__, sqlite3.OperationalError)
        assert str(failure.value.__cause__) == "database or disk is full"
        with documents.open() as store:
            assert store.count("stores") == 0  # the transaction was rolled back, the file opens


def test_a_full_rejects_folder_is_named(platform_root):
    (platform_root / "data" / "stores" / "broken.json").write_text("{")
    with small_filesystem(platform_root / "data" / "_rejected", "64k") as rejected:
        fill(rejected, 0)
        failed = headlines(make_platform(platform_root).run("stores_mongo_collection"))
    assert len(failed) == 1
    assert re.fullmatch(FULL.format(folder=re.escape(str(rejected))), failed[0])
    assert failed[0].endswith("(the rejects list stores.jsonl)")


@pytest.mark.parametrize(
    ("last", "purchases", "what", "folder"),
    [
        (Stage.MONGO_COLLECTION, 20, "the SQLite file mongo.sqlite3", "state"),  # SQLite: "disk I/O error"
        (Stage.CLICKHOUSE_RAW, 200, "ClickHouse (chDB)", "state/clickhouse"),  # chDB: "[Errno 27] File too large"
    ],
)
def test_a_file_passing_the_file_size_limit_is_named(tmp_path, monkeypatch, last, purchases, what, folder):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    generate(GeneratorConfig(purchases=purchases), tmp_path / "data")
    run_up_to(tmp_path, last)
    limit = 64 << 10

    failed = in_subprocess(tmp_path, stage(last), file_size_limit=limit)

    expected = (
        f"File too large: {what} in {tmp_path / folder} reached this process's file size limit,"
        f" {size(limit)} (RLIMIT_FSIZE, ulimit -f)"
    )
    assert failed and set(failed) == {expected}


WITHOUT_OVERRIDING_MODES = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")
"""Root as the file modes see it: no capability to override them (we run as root in tests)."""


@pytest.mark.parametrize(
    ("last", "path"),
    [
        (Stage.KAFKA_TOPIC, "state/mongo.sqlite3"),
        (Stage.CLICKHOUSE_RAW, "state/clickhouse"),
    ],
)
def test_a_state_folder_of_another_user_is_named(tmp_path, monkeypatch, last, path):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    generate(GeneratorConfig(purchases=20), tmp_path / "data")
    run_up_to(tmp_path, last)
    for folder, _, files in os.walk(tmp_path / "state"):
        for name in [folder, *(os.path.join(folder, f) for f in files)]:
            os.chown(name, 65534, 65534)  # a state folder made by another user (nobody), 0700

    env = {**os.environ, "FERNET_KEY": Fernet.generate_key().decode()}  # the dev key is nobody's too
    failed = in_subprocess(tmp_path, stage(last), *WITHOUT_OVERRIDING_MODES, env=env)

    assert failed and set(failed) == {
        f"Permission denied: {tmp_path / path} (uid 0; "
        + ("the SQLite file mongo.sqlite3)" if last == Stage.KAFKA_TOPIC else "ClickHouse (chDB))")
    }


CLOSED = {
    "mongo": (
        lambda port: MongoDocumentStoreResource(url=f"mongodb://probablyfresh:pw-not-shown@127.0.0.1:{port}/?authSource=admin"),
        "stores_mongo_collection",
        "MongoDB at mongodb://***@127.0.0.1:{port}/",
    ),
    "kafka": (
        # Nothing listens: a short wait fails the same way as the default 10 s.
        lambda port: KafkaEventLogResource(bootstrap_servers=f"127.0.0.1:{port}", timeout_ms=2000),
        "stores_kafka_topic",
        "Kafka at 127.0.0.1:{port}",
    ),
    "clickhouse": (
        lambda port: ClickHouseResource(dsn=f"http://127.0.0.1:{port}/default", password="pw-not-shown"),
        "stores_clickhouse_raw",
        "ClickHouse at 127.0.0.1:{port}",
    ),
}
"""Per service: its resource on a closed port, the first step that uses it, how the headline starts."""


@pytest.mark.parametrize("service", CLOSED)
def test_a_closed_port_names_the_service_and_where(tmp_path, monkeypatch, service):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    monkeypatch.setenv(MIN_FREE_BYTES_ENV, "0")
    resource, selection, where = CLOSED[service]
    port = free_port()
    generate(GeneratorConfig(purchases=20), tmp_path / "data")

    [failed] = headlines(make_platform(tmp_path, **{service: resource(port)}).run(selection))

    assert failed.startswith(where.format(port=port)) and "is not reachable" in failed
    assert "pw-not-shown" not in failed
