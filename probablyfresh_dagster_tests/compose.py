"""docker-compose.yml as the real Docker Compose v2 resolves it (`docker-compose config`, the binary
built by infra/testservers/install-compose.sh): what `make up` hands to Docker.

`config` needs no Docker engine. Compose runs with an environment of its own (no inherited
variable can fill in a setting) and a Docker config folder of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from probablyfresh_dagster.settings import PROJECT_ROOT

from .servers import installed


def compose_config(env_file: Path, home: Path) -> subprocess.CompletedProcess:
    """`docker-compose config --format json` on the project with `env_file`; `home` is its HOME."""
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}
    return subprocess.run(
        [installed("compose"), "--project-directory", PROJECT_ROOT, "--file", PROJECT_ROOT / "docker-compose.yml",
         "--env-file", env_file, "config", "--format", "json"],
        env=environment, capture_output=True, text=True, timeout=60,
    )


def compose_model(env_file: Path, home: Path) -> dict:
    """The resolved model, each service's environment as its container gets it; compose refusing
    the file fails the caller with compose's message."""
    result = compose_config(env_file, home)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    for service in model["services"].values():
        service["environment"] = {name: unescaped(value) for name, value in service.get("environment", {}).items()}
    return model


def unescaped(value: str) -> str:
    """The value a container gets: `config` writes a literal `$` as `$$`, so its output is a compose file too."""
    return value.replace("$$", "$")
