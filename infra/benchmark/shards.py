"""`make benchmark`'s shard figures: the purchases' MongoDB, Kafka and RAW stages in 1 shard, then in
2 shards side by side, on the same generated files and the embedded backends.

Each shard's run of a stage is a process of its own, as a run launcher would start it: it imports
the code location, says it is ready, and starts its run when all are; the stage's time is from the
first run's start to the last one's end, so imports and process start-up count on neither side.
Embedded chDB lets one process at a time open its folder, so the RAW shards take turns here (on a
ClickHouse server they insert side by side); the MongoDB and Kafka stages are the Python stages
that the second core can share. Beside them, the floor's work (read, parse, encrypt, serialize) over the
same shards in plain processes: the speed-up the machine itself gives a second process. Figures,
not assertions.
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

from probablyfresh_dagster.entities import PURCHASES, Stage
from probablyfresh_dagster.generator.config import GeneratorConfig, LandingFormat
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.settings import PROJECT_ROOT
from probablyfresh_dagster.shards import Shard

SHARDED_STAGES = (Stage.MONGO_COLLECTION, Stage.KAFKA_TOPIC, Stage.CLICKHOUSE_RAW)
PARALLEL_STAGES = (Stage.MONGO_COLLECTION, Stage.KAFKA_TOPIC)
"""The stages whose shards run side by side on the embedded backends."""
SHARD_COUNTS = (1, 2)
FLOOR, PYTHON_STAGES = "floor", "python stages"
"""The rows beside the stages: the floor's work alone, and the stages the second core shares."""
LOCAL_INSTANCE = PROJECT_ROOT / "infra" / "dagster" / "local.yaml"

# One shard's run of one stage, started when the benchmark says go; prints when it ran.
SHARD_RUN = """
import json, pathlib, sys, time
import dagster as dg
from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import PURCHASES, Stage
from probablyfresh_dagster.jobs import load_job
from probablyfresh_dagster.settings import Settings
stage, partition, ready, go = sys.argv[1], sys.argv[2] or None, pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
job = build_definitions(Settings.from_env()).resolve_job_def(load_job.name)
quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
with dg.DagsterInstance.get() as instance:
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    started = time.time()
    result = job.execute_in_process(
        instance=instance, partition_key=partition, asset_selection=[PURCHASES.asset_key(Stage(stage))], run_config=quiet
    )
    print(json.dumps({"started": started, "ended": time.time(), "success": result.success}))
"""


# The floor's work (`baselines.floor_rate`: read, parse, two Fernet encryptions, serialize) over
# one shard's records, started when the benchmark says go: what the machine gives a second process.
FLOOR_RUN = """
import json, pathlib, sys, time
import orjson
from cryptography.fernet import Fernet
from probablyfresh_dagster.entities import PURCHASES
from probablyfresh_dagster.landing import sources
from probablyfresh_dagster.pii import PiiFields
from probablyfresh_dagster.shards import WHOLE, Shard
folder, key, ready, go = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
shard, cipher, personal = Shard.from_key(key) if key else WHOLE, Fernet(Fernet.generate_key()), PiiFields.parse(PURCHASES.pii)
ready.touch()
while not go.exists():
    time.sleep(0.001)
started = time.time()
for source in sources(folder, 1 << 20, shard):
    record = orjson.loads(source.data)
    for _, holder, name, value in personal.present(record):
        holder[name] = cipher.encrypt(value.encode()).decode()
    orjson.dumps(record)
print(json.dumps({"started": started, "ended": time.time(), "success": True}))
"""


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
        generate(GeneratorConfig(purchases=purchases, format=landing_format), root / "data")
        seconds = {FLOOR: _side_by_side(FLOOR, FLOOR_RUN, str(root / "data" / PURCHASES.name), shards, env, root)}
        for stage in SHARDED_STAGES:
            seconds[stage] = _side_by_side(stage, SHARD_RUN, stage, shards, env, root)
        return seconds


def _side_by_side(label: str, code: str, argument: str, shards: int, env: dict[str, str], root: Path) -> float:
    """Seconds from the first start to the last end of `code` run once per shard, all at once."""
    go = root / f"go-{label}"
    keys = [shard.key for shard in Shard.all(shards)] if shards > 1 else [""]
    ready = [root / f"ready-{label}-{n}" for n in range(len(keys))]
    commands = [[sys.executable, "-c", code, argument, key, str(flag), str(go)] for key, flag in zip(keys, ready, strict=True)]
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
    rows = [(label, [seconds[n][label] for n in SHARD_COUNTS]) for label in (*SHARDED_STAGES, FLOOR)]
    rows.append((PYTHON_STAGES, [sum(seconds[n][stage] for stage in PARALLEL_STAGES) for n in SHARD_COUNTS]))
    for label, (one, two) in rows:
        print(f"  {label:<18} {one:>10.2f} {two:>11.2f} {purchases / one:>10,.0f} {purchases / two:>10,.0f} {one / two:>8.2f}x")
    print(
        f"  ({PURCHASES.name}; {PYTHON_STAGES}: {' + '.join(PARALLEL_STAGES)}; {FLOOR}: the floor's work, no Dagster, "
        "no store; RAW's shards take turns on embedded chDB)"
    )
