"""Progress on long work: what a step logs while it works, and how a terminal shows it."""

import io
import logging
import os
import re
import shutil
from typing import Any, TextIO

import dagster as dg

from probablyfresh_dagster import query_progress
from probablyfresh_dagster.entities import ENTITIES, PURCHASES, Stage
from probablyfresh_dagster.progress import PROGRESS, Progress
from probablyfresh_dagster.progress_display import CLEAR_LINE, ProgressDisplay, progress_display_logger

from .platforms import Platform


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def recording_logger() -> tuple[logging.Logger, Recorded]:
    logger, recorded = logging.Logger("progress-test", level=logging.INFO), Recorded()
    logger.addHandler(recorded)
    return logger, recorded


def test_a_step_logs_at_most_once_per_interval_with_records_done_total_and_rate() -> None:
    logger, recorded = recording_logger()
    ticks = [0]  # hundredths of a second
    progress = Progress(logger, "purchases_kafka_topic", 2_000_000, interval=5, clock=lambda: ticks[0] / 100)
    for _ in range(1_200):  # 1,000 records every 0.01 s
        ticks[0] += 1
        progress.advance(1_000)

    assert [r.getMessage() for r in recorded.records] == [
        "purchases_kafka_topic: 500,000 / 2,000,000 records (100,000/s)",
        "purchases_kafka_topic: 1,000,000 / 2,000,000 records (100,000/s)",
    ]
    assert getattr(recorded.records[-1], PROGRESS).done == 1_000_000


def test_without_a_known_total_or_past_it_the_line_shows_the_records_done_alone() -> None:
    logger, recorded = recording_logger()
    unknown = Progress(logger, "purchases_mongo_collection", None, interval=0)
    unknown.advance(1_234)
    passed = Progress(logger, "purchases_mongo_collection", 10, interval=0)
    passed.advance(11)
    assert [r.getMessage().split(" (")[0] for r in recorded.records] == [
        "purchases_mongo_collection: 1,234 records",
        "purchases_mongo_collection: 11 records",
    ]


def terminal_output(write) -> str:
    """What `write(stream)` shows through a real pseudo-terminal."""
    leader, follower = os.openpty()
    with open(follower, "w", closefd=True) as terminal:
        write(terminal)
    shown = b""
    try:
        while chunk := os.read(leader, 65536):  # each write may come as a chunk of its own
            shown += chunk
    except OSError:  # EIO: everything written has been read, and the terminal is closed
        pass
    finally:
        os.close(leader)
    return shown.decode()


def progress_record(step: str) -> logging.LogRecord:
    """The record of a progress line: 10 records of 20 done."""
    logger, recorded = recording_logger()
    Progress(logger, step, 20, interval=0).advance(10)
    return recorded.records[0]


def test_on_a_terminal_the_line_is_redrawn_in_place_and_wiped_before_a_warning() -> None:
    def write(terminal: TextIO) -> None:
        display = ProgressDisplay(terminal)
        for step in ("stores_mart", "purchases_mart"):
            display.handle(progress_record(step))
        display.handle(logging.makeLogRecord({"levelno": logging.WARNING, "msg": "careful"}))

    shown = terminal_output(write)
    assert shown.startswith(CLEAR_LINE + "stores_mart: 10 / 20 records (")
    assert CLEAR_LINE + "purchases_mart: 10 / 20 records (" in shown
    assert "\n" not in shown.replace("\r\n", "") and shown.endswith(CLEAR_LINE)


def test_elsewhere_each_progress_line_is_printed_as_it_comes() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    display.handle(progress_record("stores_mart"))
    display.handle(logging.makeLogRecord({"levelno": logging.WARNING, "msg": "careful"}))
    assert re.fullmatch(r"stores_mart: 10 / 20 records \([\d,]+/s\)\n", stream.getvalue())


def test_every_long_step_reports_to_the_run_log_and_the_terminal(platform: Platform, monkeypatch) -> None:
    """Every stage of purchases, with a line per batch (interval 0): the last line of each is its
    total; the MongoDB load's total is what the generator wrote, until the folder changes."""
    monkeypatch.setenv("PROBABLYFRESH_PROGRESS_SECONDS", "0")
    stream = io.StringIO()
    shown = dg.Definitions(loggers={"progress": progress_display_logger(stream)})
    job = dg.Definitions.merge(platform.defs, shown).resolve_job_def("pipeline")
    selection = [entity.asset_key(Stage.JSON_FILES) for entity in ENTITIES] + [PURCHASES.asset_key(s) for s in Stage]

    def run(*keys: dg.AssetKey, **config) -> str:
        loggers: dict[str, Any] = {"loggers": {"progress": {}}}
        ops = {"ops": {"generated_json_files": {"config": config}}} if config else {}
        result = job.execute_in_process(instance=platform.instance, asset_selection=list(keys), run_config=loggers | ops)
        assert result.success
        return result.run_id

    run_id = run(*selection, purchases=240)
    logged = [e.user_message for e in platform.instance.all_logs(run_id) if e.dagster_event is None]
    for stage in Stage:
        name = PURCHASES.asset_name(stage)
        lines = [line for line in logged if line.startswith(f"{name}: ")]
        assert lines and lines[-1].startswith(f"{name}: 240 / 240 records ("), (stage, lines[-3:])
        assert lines[-1] in stream.getvalue().splitlines()

    # Files the generator did not write: the load counts what it reads, without a total.
    folder = platform.settings.data_dir / PURCHASES.name
    shutil.copy(next(folder.glob("*.json")), folder / "foreign-copy.json")
    rerun = run(PURCHASES.asset_key(Stage.MONGO_COLLECTION))
    loaded = [e.user_message for e in platform.instance.all_logs(rerun) if e.dagster_event is None]
    assert [line for line in loaded if line.startswith("purchases_mongo_collection: ")][-1].startswith(
        "purchases_mongo_collection: 241 records ("
    )


def test_a_long_chdb_statement_reports_how_far_it_has_read(platform: Platform) -> None:
    """What lets the MART step show progress inside its statements (one per range and table)."""
    shares: list[float] = []
    with platform.resource("clickhouse").client() as client:
        with query_progress.reading(client, shares.append):
            client.command("SELECT sum(cityHash64(number)) FROM numbers(300_000_000)")
        assert any(0 < share < 1 for share in shares), shares
        assert all(0 <= share <= 1 for share in shares)
        heard = len(shares)
        client.command("SELECT sum(cityHash64(number)) FROM numbers(300_000_000)")
    assert len(shares) == heard  # the callback ends with the block
