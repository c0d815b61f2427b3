"""`make benchmark`'s shard figures: the purchases' MongoDB, Kafka and RAW stages in 1 shard, then in
2 shards side by side, on the same generated files and the embedded backends; with the generator
before them and the MART after them (one run: the MART is one table), the whole chain in 1 and in 2
shards.

Each shard's run of a stage is a process of its own, as a run launcher would start it: it imports
the code location, says it is ready, and starts its run when all are; the stage's time is from the
first run's start to the last one's end, so imports and process start-up count on neither side.
Every ClickHouse step is in the `clickhouse` pool, one at a time, so the RAW shards take turns; the
MongoDB and Kafka stages are the Python stages that the second core can share. Beside them, the
floor's work (read, parse, encrypt, serialize) over the same shards in plain processes: the
speed-up the machine itself gives a second process. Figures, not assertions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
from baselines import floor_work
from cryptography.fernet import Fernet

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import PURCHASES, Stage
from probablyfresh_dagster.generator.config import GeneratorConfig, LandingFormat
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.jobs import load_job
from probablyfresh_dagster.landing import sources
from probablyfresh_dagster.resources.files import DEFAULT_MAX_FILE_BYTES
from probablyfresh_dagster.settings import PROJECT_ROOT, Settings
from probablyfresh_dagster.shards import WHOLE, Shard

SHARDED_STAGES = (Stage.MONGO_COLLECTION, Stage.KAFKA_TOPIC, Stage.CLICKHOUSE_RAW)
PARALLEL_STAGES = (Stage.MONGO_COLLECTION, Stage.KAFKA_TOPIC)
"""The stages whose shards run side by side on the embedded backends."""
SHARD_COUNTS = (1, 2)
GENERATE, FLOOR, PYTHON_STAGES, CHAIN = "generate", "floor", "python stages", "generate → MART"
"""The rows beside the stages: the generator, the floor's work alone, the stages the second core
shares, and the whole chain."""
CHAIN_STAGES = (GENERATE, *SHARDED_STAGES, Stage.MART)
"""The parts of the whole chain, each timed on its own."""
LOCAL_INSTANCE = PROJECT_ROOT / "infra" / "dagster" / "local.yaml"


def stage_seconds(purchases: int, landing_format: LandingFormat, shards: int) -> dict[str, float]:
    """Seconds of each sharded stage of `purchases` purchases in `shards` shards side by side, and
    of the floor's work over the same shards (`FLOOR`)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "dagster_home").mkdir()
        shutil.copy(LOCAL_INSTANCE, root / "dagster_home" / "dagster.yaml")
        env = os.environ | {
            "DAGSTER_HOME": str(root / "dagster_home"),
            "PROBABLYFRESH_STATE": str(root / "state"),
            "PROBABLYFRESH_DATA": str(root / "data"),
            "PROBABLYFRESH_SHARDS": str(shards),
        }
        # Its storage made before the runs: two processes creating it at once trip over each other.
        with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
            instance.get_runs(limit=1)
            instance.event_log_storage.get_concurrency_keys()
        started = time.perf_counter()
        generate(GeneratorConfig(purchases=purchases, format=landing_format), root / "data")
        seconds = {GENERATE: time.perf_counter() - started}
        seconds[FLOOR] = _side_by_side(FLOOR, str(root / "data" / PURCHASES.name), shards, env, root)
        for stage in SHARDED_STAGES:
            seconds[stage] = _side_by_side(stage, stage, shards, env, root)
        seconds[Stage.MART] = _side_by_side(Stage.MART, Stage.MART, 1, env, root)
        return seconds


def _side_by_side(label: str, argument: str, shards: int, env: dict[str, str], root: Path) -> float:
    """Seconds from the first start to the last end of `label`'s work (`run_when_told`) run once per
    shard, each in a process of its own, all at once."""
    go = root / f"go-{label}"
    keys = [shard.key for shard in Shard.all(shards)] if shards > 1 else [""]
    ready = [root / f"ready-{label}-{n}" for n in range(len(keys))]
    commands = [
        [sys.executable, __file__, label, argument, key, str(flag), str(go)] for key, flag in zip(keys, ready, strict=True)
    ]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for command in commands]
    try:
        while not all(flag.exists() for flag in ready):
            if any(run.poll() is not None for run in runs):
                sys.exit(f"a shard run of {label} stopped before it was ready (its error is above)")
            time.sleep(0.01)
        go.touch()
        outcomes = [json.loads(run.communicate()[0].strip().splitlines()[-1]) for run in runs]
    finally:
        for run in runs:
            run.kill()
    if not all(outcome["success"] for outcome in outcomes):
        sys.exit(f"a shard run of {label} failed (its error is above)")
    return max(o["ended"] for o in outcomes) - min(o["started"] for o in outcomes)


def report(purchases: int, landing_format: LandingFormat) -> None:
    """Print each sharded stage's time and records/s in 1 and 2 shards, and the speed-up, beside
    the floor's work over the same shards."""
    seconds = {shards: stage_seconds(purchases, landing_format, shards) for shards in SHARD_COUNTS}
    print(f"\n{purchases:,} purchases ({landing_format} landing) in 1 and 2 shards, each shard's run a process")
    print(f"  {'stage':<18} {'1 shard s':>10} {'2 shards s':>11} {'records/s':>10} {'2 shards':>10} {'speed-up':>9}")
    rows = [(label, [seconds[n][label] for n in SHARD_COUNTS]) for label in (*CHAIN_STAGES, FLOOR)]
    rows.append((PYTHON_STAGES, [sum(seconds[n][stage] for stage in PARALLEL_STAGES) for n in SHARD_COUNTS]))
    rows.append((CHAIN, [sum(seconds[n][stage] for stage in CHAIN_STAGES) for n in SHARD_COUNTS]))
    for label, (one, two) in rows:
        print(f"  {label:<18} {one:>10.2f} {two:>11.2f} {purchases / one:>10,.0f} {purchases / two:>10,.0f} {one / two:>8.2f}x")
    print(
        f"  ({PURCHASES.name}; {PYTHON_STAGES}: {' + '.join(PARALLEL_STAGES)}; {FLOOR}: the floor's work, no Dagster, "
        f"no store; RAW's shards take turns on embedded chDB; {CHAIN}: {' + '.join(CHAIN_STAGES)}, the MART in one run)"
    )


def run_when_told(label: str, argument: str, key: str, ready: Path, go: Path) -> dict[str, object]:
    """One shard's (`key`; empty: `WHOLE`, or the unpartitioned MART) work, once `go` exists: the run of stage `label`, or the
    floor's work (`baselines.floor_work`) on the shard's records of the folder `argument`; when it
    ran, and whether it succeeded."""
    shard = Shard.from_key(key) if key else WHOLE
    if label == FLOOR:
        found = sources(Path(argument), DEFAULT_MAX_FILE_BYTES, shard)
        records, cipher = (source.data for source in found if isinstance(source.data, bytes)), Fernet(Fernet.generate_key())
        started = _when_told(ready, go)
        success = floor_work(PURCHASES, records, cipher) > 0
    else:
        job = build_definitions(Settings.from_env()).resolve_job_def(load_job.name)
        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
        with dg.DagsterInstance.get() as instance:
            started = _when_told(ready, go)
            success = job.execute_in_process(
                instance=instance,
                partition_key=shard.key if shard != WHOLE else None,
                asset_selection=[PURCHASES.asset_key(Stage(label))],
                run_config=quiet,
            ).success
    return {"started": started, "ended": time.time(), "success": success}


def _when_told(ready: Path, go: Path) -> float:
    """Say `ready`, wait for `go`; when it came."""
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    return time.time()


if __name__ == "__main__":
    # A shard's process (`_side_by_side`): its figures on the last line of its output.
    label, argument, key, ready, go = sys.argv[1:]
    print(json.dumps(run_when_told(label, argument, key, Path(ready), Path(go))))
