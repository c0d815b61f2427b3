"""Two runs at once on one state: both finish with every check passed, and every record is
published, loaded and kept once (the publish lease, the chDB lock and the ClickHouse pool take
turns between them)."""

from __future__ import annotations

import time

import pytest

from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate

from .processes import run_together
from .run_state import delivery_figures
from .support import local_run_env

PURCHASES = 3000
EXPECTED = {"stores": 45, "products": 100, "customers": 45, "purchases": PURCHASES}


@pytest.mark.slow
def test_two_runs_at_once_publish_and_load_every_record_once(tmp_path) -> None:
    env = local_run_env(tmp_path)
    generate(GeneratorConfig(purchases=PURCHASES), tmp_path / "data")
    started = time.monotonic()
    run_together(env, tmp_path, [None, None])  # both load, publish and consume at the same moments
    print(f"two runs of {PURCHASES} purchases at once: {time.monotonic() - started:.1f} s")

    figures = delivery_figures(tmp_path / "state")
    assert figures == {
        entity: {"messages": count, "republished_versions": 0, "raw_rows": count, "repeated_raw_offsets": 0}
        for entity, count in EXPECTED.items()
    }
