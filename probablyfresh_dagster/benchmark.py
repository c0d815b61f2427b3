"""`make benchmark`: time each stage of the purchases chain and show that memory stays flat.

Each size runs in a fresh process on its own temporary state (embedded backends), so the peak
resident memory it reports belongs to that size alone. Figures, not assertions: compare the
rows per second and the peak memory across sizes.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import PURCHASES
from probablyfresh_dagster.generator import GeneratorConfig, generate
from probablyfresh_dagster.settings import Settings

STAGES = ("mongo_collection", "kafka_topic", "clickhouse_raw", "mart")


def measure(purchases: int, root: Path) -> dict[str, float]:
    """Generate, then materialize the purchases stages one by one; seconds per step and peak MiB."""
    settings = Settings(state_dir=root / "state", data_dir=root / "data")
    started = time.perf_counter()
    generate(GeneratorConfig(purchases=purchases), settings.data_dir)
    figures = {"generate": time.perf_counter() - started}
    job = build_definitions(settings).resolve_job_def("pipeline")
    with dg.DagsterInstance.ephemeral() as instance:
        for stage in STAGES:
            started = time.perf_counter()
            result = job.execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey(PURCHASES.asset(stage))]
            )
            assert result.success, stage
            figures[stage] = time.perf_counter() - started
    figures["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 50_000], help="purchase counts")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        with tempfile.TemporaryDirectory() as root:
            print(json.dumps(measure(args.one, Path(root))))
        return
    columns = ("generate", *STAGES)
    print(f"{'purchases':>10} " + " ".join(f"{c:>17}" for c in columns) + f" {'peak MiB':>9}")
    for size in args.sizes:
        output = subprocess.run(
            [sys.executable, "-m", "probablyfresh_dagster.benchmark", "--one", str(size)],
            check=True, capture_output=True, text=True,
        ).stdout
        figures = json.loads(output.strip().splitlines()[-1])
        cells = [f"{figures[c]:6.1f}s {size / figures[c]:>7.0f}/s" for c in columns]
        print(f"{size:>10} " + " ".join(cells) + f" {figures['peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()
