"""A `make run` killed anywhere is finished by the next one, exactly once.

Each case starts `make run`'s entry point in its own process group, lets it reach one point of
`crashing_run.POINTS` (every stage: generator, MongoDB, the publish path, RAW, MART, the checks),
SIGKILLs the whole group there, then runs `make run` again and asserts: it ends in bounded time
with every check passed; RAW holds no (partition, offset) twice and every message once; no
document version was published twice; the MARTs equal those of a run that was never killed.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from .crashing_run import POINTS
from .processes import kill_at, make_run
from .run_state import delivery_figures, marts
from .support import local_run_env

RECOVERY_NOTICE = re.compile(r"lost its process|interrupted run|waiting for")
"""The lines of a re-run that say what it cleaned up or waited for (printed for the crash matrix)."""


@pytest.mark.slow
@pytest.mark.parametrize("point", list(POINTS))
def test_a_run_killed_at_any_point_is_finished_exactly_once_by_the_next(point, tmp_path, clean_run) -> None:
    clean_marts, clean_figures = clean_run
    env = local_run_env(tmp_path)
    kill_at(point, env, tmp_path)

    started = time.monotonic()
    rerun = make_run(env, tmp_path / "rerun.log")
    output = (tmp_path / "rerun.log").read_text()
    assert rerun == 0, output[-4000:]
    print(
        json.dumps(
            {
                "point": point,
                "rerun_seconds": round(time.monotonic() - started, 1),
                "said": [line for line in output.splitlines() if RECOVERY_NOTICE.search(line)],
            }
        )
    )

    figures = delivery_figures(tmp_path / "state")
    assert figures == clean_figures
    assert all(f["republished_versions"] == f["repeated_raw_offsets"] == 0 for f in figures.values())
    assert all(f["raw_rows"] == f["messages"] for f in figures.values())
    assert marts(tmp_path / "state") == clean_marts


SHARDED_POINTS = (
    "mongo: rejects list written, not yet renamed into place",
    "kafka: purchases committed to the log, not yet marked in MongoDB",
    "raw: purchases inserted into ClickHouse, offsets not committed",
)
"""Where a run over two shards keeps per-shard state: rejects lists, outbox checkpoints, partitions."""


@pytest.mark.slow
@pytest.mark.parametrize("point", SHARDED_POINTS)
def test_a_run_over_two_shards_killed_is_finished_exactly_once_by_the_next(point, tmp_path, clean_run) -> None:
    """As above, in two shards: the same messages, RAW rows and MARTs as one shard's clean run."""
    clean_marts, clean_figures = clean_run
    env = local_run_env(tmp_path) | {"PROBABLYFRESH_SHARDS": "2"}
    kill_at(point, env, tmp_path)
    assert make_run(env, tmp_path / "rerun.log") == 0, (tmp_path / "rerun.log").read_text()[-4000:]
    assert delivery_figures(tmp_path / "state") == clean_figures
    assert marts(tmp_path / "state") == clean_marts
