"""Each command's module imports on its own, in a fresh interpreter (an import cycle shows only
when the cycle's modules are imported in a particular order)."""

import subprocess
import sys

import pytest

from probablyfresh_dagster.settings import PROJECT_ROOT

ENTRY_POINTS = ["run", "local_runs.dagster_dev", "generator.__main__", "definitions", "sensors", "alerts.sensor"]
BENCHMARK_SCRIPTS = ["stages.py", "materialize_all.py"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_the_module_imports_first(module):
    done = subprocess.run([sys.executable, "-c", f"import probablyfresh_dagster.{module}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", BENCHMARK_SCRIPTS)
def test_the_benchmark_script_imports_first(script):
    """`make benchmark` and `make benchmark-ui` run these scripts; `--help` imports all they import, then exits."""
    done = subprocess.run(
        [sys.executable, PROJECT_ROOT / "infra" / "benchmark" / script, "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
