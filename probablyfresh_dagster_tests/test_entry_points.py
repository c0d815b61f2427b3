"""Each command's module imports on its own, in a fresh interpreter (an import cycle shows only
when the cycle's modules are imported in a particular order)."""

import subprocess
import sys

import pytest

ENTRY_POINTS = ["run", "benchmark", "materialize_all", "dev", "generator.__main__", "definitions", "sensors", "alerts"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_the_module_imports_first(module):
    done = subprocess.run([sys.executable, "-c", f"import probablyfresh_dagster.{module}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
