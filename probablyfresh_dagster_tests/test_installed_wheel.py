"""The project installed as a production image may install it, not editable: a wheel built offline,
installed into a folder of its own and run from outside the repository, where only the wheel's
copy of the SQL can be found."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from probablyfresh_dagster.settings import PROJECT_ROOT

from .support import local_run_env

# `make run`, printing first where the package and its SQL were imported from.
RUN = """
import sys
import probablyfresh_dagster.sql
from probablyfresh_dagster import run
print(probablyfresh_dagster.sql.__file__, probablyfresh_dagster.sql.SQL_DIR, sep="\\n", flush=True)
sys.exit(run.main([]))
"""


@pytest.mark.slow
def test_a_wheel_install_runs_the_whole_pipeline_on_the_sql_it_ships(tmp_path):
    # Built from a copy, so that the build leaves no build/ or egg-info in the repository.
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", source)
    for folder in ("probablyfresh_dagster", "infra/clickhouse"):
        # symlinks=True: clickhouse_sql/ stays what it is in the repository, a link to infra/clickhouse.
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(PROJECT_ROOT / folder, source / folder, symlinks=True, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source], check=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    target = tmp_path / "installed"
    subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], check=True)

    env = local_run_env(tmp_path) | {"PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", RUN], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stdout + result.stderr
    module, sql_dir = map(Path, result.stdout.splitlines()[:2])
    assert module.is_relative_to(target) and sql_dir == target / "probablyfresh_dagster/clickhouse_sql"
    assert not sql_dir.is_symlink() and (sql_dir / "queries/raw_keys.sql").is_file()
    assert "purchases_mart              200 rows" in result.stdout
