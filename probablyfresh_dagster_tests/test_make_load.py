"""`make load` as a user runs it, on files another program wrote into `data/`: they are loaded on
the instance `make dev` shows, and the terminal gets the summary and nothing else."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.local_runs.bare_cli import ADVICE
from probablyfresh_dagster.settings import PROJECT_ROOT

from .support import local_env

# `make` rebuilds its venv when that is older than the lock: not from two xdist workers at once.
pytestmark = pytest.mark.xdist_group("make_dev")

CHECK_LINE = re.compile(r"  \S+:\S+ +(passed|FAILED \(\w+\))\n      \S.*")


def test_make_load_loads_a_users_files_and_prints_only_the_summary(tmp_path):
    # The user's files: batch files written elsewhere (here by our generator, as another program
    # would), copied into the landing zone under names of the user's; no generator record of them.
    subprocess.run(
        [sys.executable, "-m", "probablyfresh_dagster.generator", "--out", str(tmp_path / "elsewhere"), "--format", "jsonl"],
        check=True,
        capture_output=True,
    )
    for entity in ENTITIES:
        (tmp_path / "data" / entity.name).mkdir(parents=True)
        shutil.copy(
            tmp_path / "elsewhere" / entity.name / f"{entity.name}.jsonl", tmp_path / "data" / entity.name / "export.jsonl"
        )
    purchases = [json.loads(line) for line in (tmp_path / "data" / "purchases" / "export.jsonl").open()]
    env = local_env(tmp_path) | {"FERNET_KEY": Fernet.generate_key().decode()}  # no dev-key warning

    loaded = subprocess.run(["make", "load"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert (loaded.returncode, loaded.stderr) == (0, "")
    blank, header, *tables = loaded.stdout.split("\n\n")[0].split("\n")
    run_id = re.fullmatch(r"ProbablyFresh: local profile, run (\S+) in [\d.]+ s", header)
    assert blank == "" and run_id, header
    checks, closing = loaded.stdout.split("\n\n")[1:]
    assert tables == [
        f"  {table:<22} {rows:>8} rows"
        for table, rows in [
            ("stores_mart", 45),
            ("products_mart", 100),
            ("customers_mart", 45),
            ("purchases_mart", len(purchases)),
            ("purchase_items_mart", sum(len(purchase["items"]) for purchase in purchases)),
        ]
    ]
    check_header, *verdicts = re.split(r"\n(?=  \S)", checks)
    assert check_header == f"  {'check':<48} result"
    assert all(CHECK_LINE.fullmatch(verdict) for verdict in verdicts), verdicts
    assert "FAILED" not in checks
    assert closing == "  `make dev` shows this run, its assets and their checks in the Dagster UI.\n"

    # On the instance `make dev` shows, as the `load` job: nothing generated, nothing else written.
    run = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")).get_run_by_id(run_id.group(1))
    assert run is not None and run.job_name == "load"
    assert sorted(path.name for path in (tmp_path / "data" / "purchases").iterdir()) == ["export.jsonl"]


def test_a_dagster_command_without_dagster_home_says_to_use_make_dev_once(tmp_path):
    """Without DAGSTER_HOME, `dagster dev` or `dagster asset materialize` would keep their runs in a
    temporary instance; the code location says so as it loads (for `dagster dev`, in its code server)."""
    env = local_env(tmp_path)
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "list", "-m", "probablyfresh_dagster.definitions"]
    env.pop("DAGSTER_HOME")
    bare = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert bare.stderr.splitlines() == [ADVICE]
    assert "purchases_mart" in bare.stdout.split()

    configured = subprocess.run(command, cwd=tmp_path, env=local_env(tmp_path), capture_output=True, text=True, check=True)
    assert "DAGSTER_HOME" not in configured.stderr
