"""docker-compose.yml as Docker Compose v2.40.3 resolves it (`docker-compose config`): what `make up`
hands to Docker.

The binary is infra/testservers/compose-config (see install-compose.sh): that one command of compose
v2.40.3, on its own loader with compose's options and output. It takes only the command line
`compose_config` passes.

`config` needs no Docker engine. Compose runs with an environment of its own (no inherited
variable can fill in a setting) and a Docker config folder of its own.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet

from probablyfresh_dagster.settings import PROJECT_ROOT

from .servers import installed
from .stack_scripts import env_check

# What .env.example leaves empty and compose requires (`${VAR:?}`), and the compose `env-check`
# service refuses when weak.
SECRETS = (env_check.FERNET_KEY, *env_check.PASSWORDS)
DAGSTER_SERVICES = ("user-code", "dagster-webserver", "dagster-daemon")
# Run once and exit: the weak-secret check, the SCRAM user of Kafka's host listener, and the
# tables of the clickhouse-cluster profile.
ONE_SHOTS = {"env-check", "kafka-user", "clickhouse-cluster-tables"}
PINNED_TAG = re.compile(r"^[\w./-]+:\d+(\.\d+)+(-[\w.]+)?$")


def env_example() -> dict[str, str]:
    lines = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def filled_in(**settings: str) -> dict[str, str]:
    """.env.example with a Fernet key and a distinct strong value for each password, then `settings`."""
    passwords = {name: secrets.token_urlsafe(24) for name in SECRETS if name.endswith("_PASSWORD")}
    return {**env_example(), "FERNET_KEY": Fernet.generate_key().decode(), **passwords, **settings}


def write_env_file(path: Path, settings: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in settings.items()), encoding="utf-8")
    return path


def compose_config(env_file: Path, home: Path, profiles: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """`docker-compose config --format json` on the project with `env_file` and the services of
    `profiles` besides the default ones; `home` is its HOME."""
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}
    return subprocess.run(
        [
            installed("compose"),
            "--project-directory",
            PROJECT_ROOT,
            "--file",
            PROJECT_ROOT / "docker-compose.yml",
            "--env-file",
            env_file,
            *(option for profile in profiles for option in ("--profile", profile)),
            "config",
            "--format",
            "json",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def compose_model(env_file: Path, home: Path, profiles: Sequence[str] = ()) -> dict:
    """The resolved model, each service's environment as its container gets it; compose refusing
    the file fails the caller with compose's message."""
    result = compose_config(env_file, home, profiles)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    for service in model["services"].values():
        service["environment"] = {name: unescaped(value) for name, value in service.get("environment", {}).items()}
    return model


def unescaped(value: str) -> str:
    """The value a container gets: `config` writes a literal `$` as `$$`, so its output is a compose file too."""
    return value.replace("$$", "$")
