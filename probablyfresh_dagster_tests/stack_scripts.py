"""infra/stack/env_check.py, a script the host's python3 runs (outside the package), imported by the tests."""

from __future__ import annotations

import importlib.util

from probablyfresh_dagster.settings import PROJECT_ROOT

ENV_CHECK_SCRIPT = PROJECT_ROOT / "infra" / "stack" / "env_check.py"
_spec = importlib.util.spec_from_file_location("env_check", ENV_CHECK_SCRIPT)
assert _spec is not None and _spec.loader is not None
env_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(env_check)
