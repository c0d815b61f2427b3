"""A chDB folder that a full disk (or a crash) left with empty or cut-short metadata is repaired by
the next run (`resources/chdb_repair.py`), which ends with the figures of a run nothing broke: every
MART row, every RAW row once, the same rejects, set-aside messages and watermarks.

The damage is made as a full disk makes it (a tmpfs filled during the MART step) and by hand on a
copy of a loaded state: metadata files emptied or cut short, with or without the tables' data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probablyfresh_dagster.entities import CLICKHOUSE_STAGES, CUSTOMERS, ENTITIES, STORES, Stage
from probablyfresh_dagster.events import OutgoingMessage
from probablyfresh_dagster.free_space import MIN_FREE_BYTES_ENV
from probablyfresh_dagster.outbox import SOURCE_ID, VERSION
from probablyfresh_dagster.resources.chdb_repair import SET_ASIDE_SUFFIX
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource

from .failing_steps import fill, small_filesystem, stage
from .platforms import Platform, copied_platform, local_platform, materialization, rows
from .run_state import delivery_figures, marts

UPSTREAM = " ".join(stage(name) for name in (Stage.JSON_FILES, Stage.MONGO_COLLECTION, Stage.KAFKA_TOPIC))
RAW = stage(Stage.CLICKHOUSE_RAW)
MART = stage(Stage.MART)
HEADERS = ((SOURCE_ID, "another-producer"), (VERSION, "1"))
FOREIGN = {
    STORES.name: OutgoingMessage("store-999", b'{"store_id": "store-999"}', HEADERS),  # no name: a MART reject
    CUSTOMERS.name: OutgoingMessage("cus-999", b'{"customer_id": "cus-999", "phone": "8 (912) 345-67-89"}', HEADERS),
}
"""Messages of another producer, so that mart_rejects and raw_set_aside (the clear phone) hold a row to lose."""
BOOKKEEPING = {
    "mart_rejects": "SELECT entity, key, partition, offset, reason FROM mart_rejects FINAL",
    "raw_set_aside": "SELECT entity, partition, offset, key, field, reason FROM raw_set_aside FINAL",
    "mart_watermarks": "SELECT entity, partition, next_offset FROM mart_watermarks FINAL",
    "duplicates_log": "SELECT entity, argMax((total_rows, unique_keys, duplicate_percentage), timestamp)"
    " FROM duplicates_log GROUP BY entity",
}
"""Each bookkeeping table's figures (duplicates_log: each entity's latest row)."""


def publish_foreign(platform: Platform) -> None:
    with platform.resource("kafka").open() as log:
        for topic, message in FOREIGN.items():
            log.publish(topic, [message])


def figures(platform: Platform) -> dict:
    """What a run leaves: the MARTs (phone and email decrypted), the delivery figures, bookkeeping."""
    state = platform.settings.state_dir
    return {
        "marts": marts(state),
        "delivery": delivery_figures(state),
        **{table: sorted(rows(platform, sql)) for table, sql in BOOKKEEPING.items()},
    }


# Every test copies the module's loaded state: under xdist they share a worker, which loads it once.
pytestmark = pytest.mark.xdist_group("chdb_repair")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A state after a whole run, then a foreign producer's messages loaded (read-only: tests
    break copies of it), and its figures."""
    root = tmp_path_factory.mktemp("loaded")
    with local_platform(root) as platform:
        assert platform.run().success
        publish_foreign(platform)
        assert platform.run(f"{RAW} {MART}").success
        reference = figures(platform)
    assert all(reference[table] for table in BOOKKEEPING)
    return root, reference


@pytest.fixture
def copy(loaded: tuple[Path, dict], tmp_path: Path) -> Platform:
    return copied_platform(loaded[0], tmp_path)


def chdb(platform: Platform) -> Path:
    return platform.settings.state_dir / "clickhouse"


def metadata(platform: Platform, name: str) -> Path:
    return chdb(platform) / "metadata" / "default" / f"{name}.sql"


def empty_metadata(platform: Platform) -> list[str]:
    """The names of the table, view and function metadata files at 0 bytes."""
    folder = chdb(platform)
    found = [*(folder / "metadata").glob("*/*.sql"), *(folder / "user_defined").glob("*.sql")]
    return sorted(path.stem for path in found if path.stat().st_size == 0)


def set_aside_files(platform: Platform) -> list[str]:
    aside = chdb(platform).with_name("clickhouse" + SET_ASIDE_SUFFIX)
    return sorted(path.name for path in aside.rglob("*.sql"))


def repaired(result) -> str:
    """What the RAW and MART steps report of the repair (the first step to open chDB does it)."""
    steps = [e.asset_name(stage) for stage in CLICKHOUSE_STAGES for e in ENTITIES]
    return "\n".join(str(materialization(result, step).get("chdb_repaired", "")) for step in steps)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The state folder on a 16 MiB tmpfs, with no free-space margin: the step must meet the full disk."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    monkeypatch.setenv(MIN_FREE_BYTES_ENV, "0")
    with small_filesystem(tmp_path / "state") as state:
        yield state


FULL_DISK = {
    "RAW": (64 << 10, 32 << 10, 96 << 10, 16 << 10, 128 << 10),
    "MART": (8 << 10, 24 << 10, 40 << 10),
}
"""Bytes left free during the step, tried in turn until the folder breaks. Reproduced: the RAW step
left 0 bytes in the metadata of the RAW table it was creating; the MART step in that of an existing
RAW table (its ALTER … IF NOT EXISTS rewrites it), of the bookkeeping tables and MART it was
creating, and of the functions."""


@pytest.mark.parametrize("step", FULL_DISK)
def test_a_full_disk_during_a_clickhouse_step_is_repaired_by_the_next_run(step, small_disk, tmp_path, loaded):
    margins = FULL_DISK[step]
    with local_platform(tmp_path) as platform:
        assert platform.run(UPSTREAM).success
        publish_foreign(platform)
        if step == "MART":
            assert platform.run(RAW).success
        broken = []
        for leave in margins:  # what a full disk breaks depends on what chDB writes when it fills
            filler = fill(small_disk, leave)
            assert not platform.run(RAW if step == "RAW" else MART).success
            filler.unlink()
            if broken := empty_metadata(platform):
                break
        print(f"{step}: {leave} bytes free left 0-byte metadata of {broken}")
        assert broken

        result = platform.run()

        assert result.success
        assert empty_metadata(platform) == []
        assert set(broken) <= {name.removesuffix(".sql") for name in set_aside_files(platform)}
        assert "attached again to its data" in repaired(result)
        assert figures(platform) == loaded[1]


EMPTIED = {
    "raw": ["stores_raw", "purchases_raw"],
    "mart": ["purchases_mart", "purchase_items_mart", "stores_mart"],
    "bookkeeping": ["mart_rejects", "mart_watermarks", "duplicates_log", "raw_set_aside", "kafka_lag"],
}


@pytest.mark.parametrize("tables", EMPTIED.values(), ids=EMPTIED)
def test_emptied_metadata_is_set_aside_and_each_table_attached_again_to_its_data(copy, loaded, tables):
    for name in tables:
        metadata(copy, name).write_bytes(b"")

    result = copy.run(f"{RAW} {MART}")

    assert result.success
    assert set_aside_files(copy) == sorted(f"{name}.sql" for name in tables)
    assert all(f"{name}: attached again to its data" in repaired(result) for name in tables)
    assert figures(copy) == loaded[1]


def test_cut_short_metadata_of_tables_views_and_functions_is_repaired(copy, loaded):
    cut = [
        metadata(copy, "customers_raw"),
        metadata(copy, "stores_mart_checked"),
        metadata(copy, "purchase_items_current"),
        chdb(copy) / "user_defined" / "function_mart_version.sql",
    ]
    for path in cut:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    result = copy.run(f"{RAW} {MART}")

    assert result.success
    assert set_aside_files(copy) == sorted(path.name for path in cut)
    assert "stores_mart_checked: created again from marts/stores.sql" in repaired(result)
    assert figures(copy) == loaded[1]


def test_a_run_killed_once_the_files_are_set_aside_leaves_the_repair_to_the_next(copy, loaded):
    for name in EMPTIED["raw"] + EMPTIED["bookkeeping"]:
        metadata(copy, name).write_bytes(b"")
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; "
            "from probablyfresh_dagster.resources.chdb_repair import set_aside; "
            "set_aside(Path(sys.argv[1])); os.kill(os.getpid(), 9)",
            str(chdb(copy)),
        ],
    )
    assert killed.returncode == -9
    assert empty_metadata(copy) == [] and len(set_aside_files(copy)) == 7

    result = copy.run(f"{RAW} {MART}")

    assert result.success
    assert "stores_raw: attached again to its data" in repaired(result)
    assert figures(copy) == loaded[1]


@pytest.mark.parametrize("tables", EMPTIED.values(), ids=EMPTIED)
def test_tables_whose_data_is_lost_too_are_refilled_exactly(copy, loaded, tables, tmp_path):
    """As if the data folders were gone as well: each table is created empty, RAW read again from
    the log, the MART judged again from RAW."""
    lost = tmp_path / "lost"
    lost.mkdir()
    for name in tables:
        metadata(copy, name).write_bytes(b"")
        shutil.move((chdb(copy) / "data" / "default" / name).resolve(), lost / name)

    result = copy.run(f"{RAW} {MART}")

    assert result.success
    assert all(f"{name}: its rows were lost; created again empty" in repaired(result) for name in tables)
    assert figures(copy) == loaded[1]
    assert rows(copy, "SELECT count() FROM raw_reloads") == [(0,)]


def test_broken_metadata_that_is_not_the_platforms_is_named_with_the_command_and_left_alone(copy, loaded):
    with ClickHouseResource(dsn=f"chdb:///{chdb(copy)}").client() as client:
        client.command("CREATE TABLE operator_notes (note String) ENGINE = MergeTree ORDER BY note")
    notes = metadata(copy, "operator_notes")
    notes.write_bytes(b"")
    metadata(copy, "stores_raw").write_bytes(b"")

    failed = copy.run(RAW)

    assert not failed.success
    messages = [
        event.event_specific_data.error.cause.message for event in failed.all_events if event.event_type_value == "STEP_FAILURE"
    ]
    assert len(messages) == len(ENTITIES)  # every RAW step, each with its own set-aside folder
    message = messages[0]
    assert message.startswith("probablyfresh_dagster.resources.chdb_repair.BrokenChdbState: chDB cannot open")
    assert str(notes) in message and str(metadata(copy, "stores_raw")) not in message
    assert notes.exists() and metadata(copy, "stores_raw").exists()  # nothing moved
    command = message.split("`")[1]

    subprocess.run(["sh", "-c", command], check=True)
    result = copy.run(f"{RAW} {MART}")

    assert result.success
    assert figures(copy) == loaded[1]
