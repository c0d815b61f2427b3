"""`make benchmark`: each stage of the purchases chain against what its libraries allow.

Each size runs in a fresh process on its own temporary state, so the peak resident memory it
reports (taken when the last stage ends, before the baselines that follow) belongs to that size
alone. That process also measures the yardsticks of `baselines`: the floor (right after
generating, before the stages), which each
Python stage is shown as a share of; the source documents' one INSERT per message (on the
first size only: it does not depend on the size), which RAW is shown as a multiple of; and with
`--kafka`, on a broker of its own (started by `infra/testservers/start-kafka.sh`, stopped after
the size), a bare producer and consumer, which the Kafka stages are shown as a share of. A
broker of its own, not one given: the stages' topic and consumer group names are fixed, and on a
broker that already held them the outbox would recover the earlier run's messages instead of
publishing, and RAW resume past its committed offsets. Figures, not assertions. While a stage
works, its progress is drawn on standard error (see `progress_display`). At the largest size, the
sharded stages in 1 and then 2 shards side by side follow (see `shards`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import dagster as dg
import shards
from baselines import bare_kafka_rates, floor_rate, rule_costs, single_insert_rate

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import LOAD_STAGES, PURCHASES, Stage
from probablyfresh_dagster.generator.config import GeneratorConfig, LandingFormat
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.jobs import pipeline_job
from probablyfresh_dagster.outbox import PUBLISH_BATCH
from probablyfresh_dagster.private_files import owner_only_process
from probablyfresh_dagster.profiles import profile_resources
from probablyfresh_dagster.progress_display import progress_display_logger
from probablyfresh_dagster.resources.events import KafkaEventLogResource
from probablyfresh_dagster.settings import Settings

PYTHON_STAGES = ("generate", Stage.MONGO_COLLECTION, Stage.KAFKA_TOPIC, Stage.CLICKHOUSE_RAW)
"""The stages whose per-record work is Python's, so the floor applies; MART is ClickHouse SQL."""
RULES = (
    ("repeated names", "repeated_names", Stage.MONGO_COLLECTION),
    ("clear text", "clear_text", Stage.MONGO_COLLECTION),
    ("RAW's screen", "raw_screen", Stage.CLICKHOUSE_RAW),
)
"""The rules `rule_costs` times, each shown as a share of its stage's time per record."""
FLOOR_SAMPLE = 20_000
SINGLE_INSERT_SAMPLE = 10_000
KAFKA_PARTITIONS = 3
TESTSERVERS = Path(__file__).resolve().parent.parent / "testservers"


def measure(purchases: int, landing_format: LandingFormat, single_inserts: int, bootstrap: str | None) -> dict[str, Any]:
    """Generate, materialize the purchases stages one by one, then the baselines; seconds per
    stage, peak MiB and records (messages) per second of each baseline."""
    with tempfile.TemporaryDirectory() as root:
        settings = Settings(state_dir=Path(root) / "state", data_dir=Path(root) / "data")
        resources = profile_resources(settings)
        if bootstrap:
            resources["kafka"] = KafkaEventLogResource(bootstrap_servers=bootstrap, partitions=KAFKA_PARTITIONS)
        started = time.perf_counter()
        written = generate(GeneratorConfig(purchases=purchases, format=landing_format), settings.data_dir)
        seconds = {"generate": time.perf_counter() - started}
        peaks = {"generate": peak_mib()}
        # Before the stages: what they leave behind (chDB's memory, a large heap) slows the same
        # loop down, the more so the larger the size.
        floor = floor_rate(PURCHASES, settings.data_dir / PURCHASES.name, resources["fernet"].cipher(), FLOOR_SAMPLE)
        rules = rule_costs(PURCHASES, settings.data_dir / PURCHASES.name, resources["fernet"].cipher(), FLOOR_SAMPLE)
        # Loading chDB's library (hundreds of MB) takes seconds, more or fewer with the page cache,
        # once per process: timed apart, so that RAW's figure is about records.
        started = time.perf_counter()
        with resources["clickhouse"].client() as client:
            client.command("SELECT 1")
        engine_start = time.perf_counter() - started
        progress = dg.Definitions(loggers={"progress": progress_display_logger(sys.stderr)})
        definitions = dg.Definitions.merge(build_definitions(settings, **resources), progress)
        job = definitions.resolve_job_def(pipeline_job.name)
        with dg.DagsterInstance.ephemeral() as instance:
            # As the generator's asset records it: the MongoDB stage's progress takes its total from it.
            generated = dg.AssetMaterialization(
                PURCHASES.asset_key(Stage.JSON_FILES), metadata={"records": written[PURCHASES.name].records}
            )
            instance.report_runless_asset_event(generated)
            for stage in LOAD_STAGES:
                started = time.perf_counter()
                result = job.execute_in_process(
                    instance=instance, asset_selection=[PURCHASES.asset_key(stage)], run_config={"loggers": {"progress": {}}}
                )
                assert result.success, stage
                seconds[stage] = time.perf_counter() - started
                peaks[stage] = peak_mib()
        figures: dict[str, Any] = {
            "seconds": seconds,
            "peak_mib": peak_mib(),
            "peaks": peaks,
            "engine_start": engine_start,
            "floor": floor,
            "rules": rules,
        }
        if single_inserts:
            figures["single_insert"] = single_insert_rate(PURCHASES, resources["kafka"], resources["clickhouse"], single_inserts)
        if bootstrap:
            figures["bare"] = bare_kafka_rates(PURCHASES.name, bootstrap, KAFKA_PARTITIONS)._asdict()
        return figures


def peak_mib() -> float:
    """This process's peak resident memory so far: after each stage, which stage raised it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def kafka_broker() -> Iterator[str]:
    """A fresh broker on 127.0.0.1 with its data in a temporary folder; its address."""
    with tempfile.TemporaryDirectory() as workdir:
        started = subprocess.run(
            [TESTSERVERS / "start-kafka.sh", workdir],
            capture_output=True,
            text=True,
            env={**os.environ, "TESTSERVERS_PYTHON": sys.executable},
        )
        if started.returncode != 0:
            sys.exit(f"Kafka did not start:\n{started.stderr}")
        try:
            yield f"127.0.0.1:{(Path(workdir) / 'port').read_text().strip()}"
        finally:
            subprocess.run([TESTSERVERS / "stop.sh", workdir], check=True)


def run_size(size: int, landing_format: str, single_inserts: int, with_kafka: bool) -> dict[str, Any]:
    """`measure` in a fresh process (on a fresh broker with `with_kafka`)."""
    with kafka_broker() if with_kafka else nullcontext(None) as bootstrap:
        command = [
            sys.executable,
            __file__,
            "--one",
            str(size),
            "--format",
            landing_format,
            "--single-inserts",
            str(single_inserts),
        ]
        if bootstrap:
            command += ["--kafka-bootstrap", bootstrap]
        # Its standard error, where the stages draw their progress, is this one's.
        child = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if child.returncode != 0:
        sys.exit(f"the benchmark at {size} purchases failed (its error is above)")
    return json.loads(child.stdout.strip().splitlines()[-1])


def report(size: int, landing_format: str, figures: dict[str, Any], single_insert: float) -> None:
    seconds, floor = figures["seconds"], figures["floor"]
    rates = {stage: size / took for stage, took in seconds.items()}
    print(
        f"\n{size:,} purchases ({landing_format} landing): peak RSS {figures['peak_mib']:,.0f} MiB, "
        f"floor {floor:,.0f} records/s (read + parse + 2 Fernet + serialize, in this process)"
    )
    print(
        f"  chDB loaded in {figures['engine_start']:.2f} s before the stages; all stages "
        f"{sum(seconds.values()) + figures['engine_start']:.1f} s"
    )
    print(f"  {'stage':<18} {'seconds':>8} {'records/s':>10} {'of floor':>9} {'peak MiB':>9}")
    for stage, took in seconds.items():
        share = f"{rates[stage] / floor:>8.1%}" if stage in PYTHON_STAGES else f"{'-':>8}"
        print(f"  {stage:<18} {took:>8.2f} {rates[stage]:>10,.0f} {share:>9} {figures['peaks'][stage]:>9,.0f}")
    print(
        "  per record, of its stage: "
        + ", ".join(
            f"{label} {figures['rules'][rule] * 1e6:.1f} µs ({figures['rules'][rule] * size / seconds[stage]:.1%} of {stage})"
            for label, rule, stage in RULES
        )
    )
    raw, kafka = Stage.CLICKHOUSE_RAW, Stage.KAFKA_TOPIC
    print(f"  one INSERT per message: {single_insert:,.0f}/s; {raw} is {rates[raw] / single_insert:,.1f}x that")
    if bare := figures.get("bare"):
        print(f"  bare producer {bare['producer']:,.0f} msg/s: {kafka} at {rates[kafka] / bare['producer']:.0%}")
        print(
            f"  bare producer in the stage's transactions of {PUBLISH_BATCH} {bare['transactional_producer']:,.0f} msg/s:"
            f" {kafka} at {rates[kafka] / bare['transactional_producer']:.0%}"
        )
        print(f"  bare consumer {bare['consumer']:,.0f} msg/s: {raw} at {rates[raw] / bare['consumer']:.0%}")


def main(argv: list[str] | None = None) -> None:
    owner_only_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000], help="purchase counts")
    parser.add_argument("--format", choices=("json", "jsonl", "jsonl.gz"), default="jsonl", help="landing files")
    parser.add_argument("--kafka", action="store_true", help="Kafka stages on a real broker, with bare clients")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--single-inserts", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--kafka-bootstrap", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one, args.format, args.single_inserts, args.kafka_bootstrap)))
        return
    single_insert = 0.0
    for index, size in enumerate(args.sizes):
        sample = min(size, SINGLE_INSERT_SAMPLE) if index == 0 else 0
        figures = run_size(size, args.format, sample, args.kafka)
        single_insert = figures.get("single_insert", single_insert)
        report(size, args.format, figures, single_insert)
    shards.report(max(args.sizes), args.format)


if __name__ == "__main__":
    main()
