"""`make up` refuses weak secrets before compose starts anything, one line each naming the
variable and never its value (infra/stack/env_check.py, run by the host's python3); `make secrets`
writes strong ones. A stand-in `docker` on PATH records whether make called it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.settings import PROJECT_ROOT

from .compose import env_example, filled_in, write_env_file
from .stack_scripts import ENV_CHECK_SCRIPT, env_check

# Each one weak in its own way; KAFKA_PASSWORD is left out of the file altogether.
WEAK = {
    "MONGO_PASSWORD": "change-me",
    "CLICKHOUSE_PASSWORD": "Sh0rt!pass",
    "POSTGRES_PASSWORD": "",
    "GRAFANA_ADMIN_PASSWORD": "'My-Secret-Is-Long-Enough-1'",
    "FERNET_KEY": "bm90LWEtZmVybmV0LWtleQ==",
}
WHY = {
    "MONGO_PASSWORD": "is a placeholder",
    "CLICKHOUSE_PASSWORD": "is shorter than 16 characters",
    "POSTGRES_PASSWORD": "is empty",
    "GRAFANA_ADMIN_PASSWORD": "is a placeholder",
    "KAFKA_PASSWORD": "is empty",
    "FERNET_KEY": "is not a Fernet key (URL-safe base64 of 32 bytes)",
}


def make(target: str, folder: Path) -> subprocess.CompletedProcess:
    """`make TARGET` in `folder` with this project's Makefile and a `docker` that only records its call."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, open('docker-call.json', 'w'))\n"
    )
    (bin_dir / "docker").chmod(0o755)
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        ["make", "-s", "-f", PROJECT_ROOT / "Makefile", target],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_up_refuses_each_weak_secret_in_one_line_naming_it_and_never_calls_docker(tmp_path: Path):
    settings = {name: value for name, value in filled_in(**WEAK).items() if name != "KAFKA_PASSWORD"}
    write_env_file(tmp_path / ".env", settings)
    result = make("up", tmp_path)
    assert result.returncode != 0
    assert not (tmp_path / "docker-call.json").exists()
    lines = result.stderr.splitlines()[:-1]  # the last one is make's own "Error 1"
    assert lines == [f".env: {name} {why}; {env_check.FIX}" for name, why in WHY.items()]
    for value in filter(None, WEAK.values()):
        assert value.strip("'") not in result.stdout + result.stderr


def test_make_up_without_env_says_how_to_make_one(tmp_path: Path):
    result = make("up", tmp_path)
    assert result.returncode != 0 and "No .env: run `make secrets`" in result.stderr
    assert not (tmp_path / "docker-call.json").exists()


def test_make_up_hands_a_strong_env_to_compose_untouched(tmp_path: Path):
    """make must not read .env: it rewrites `$` and `#`, and what it exports would override the
    file in compose. The check reads a single-quoted value as compose does."""
    write_env_file(tmp_path / ".env", filled_in(POSTGRES_PASSWORD="'pa$word#1-and-more-of-it'"))
    result = make("up", tmp_path)
    assert result.returncode == 0, result.stderr
    call = json.loads((tmp_path / "docker-call.json").read_text())
    assert call["argv"][:3] == ["compose", "--env-file", ".env"]
    assert {"FERNET_KEY", "POSTGRES_PASSWORD"} & set(call["env"]) == set()


@pytest.mark.parametrize(
    "key",
    [
        "not base64 at all!",
        Fernet.generate_key().decode()[:-2],  # cut short
        Fernet.generate_key().decode()[:-1] + "A",  # no padding: 33 bytes
        Fernet.generate_key().decode() + "\n#",  # skipped by a lenient decoder
        "clé-" + Fernet.generate_key().decode(),
        "bm90LWEtZmVybmV0LWtleQ==",  # base64, 16 bytes
    ],
    ids=["not-base64", "cut-short", "no-padding", "trailing-comment", "non-ascii", "16-bytes"],
)
def test_an_invalid_fernet_key_is_refused(key: str):
    assert env_check.fernet_key_problem(key) == "is not a Fernet key (URL-safe base64 of 32 bytes)"
    assert env_check.fernet_key_problem("") == "is empty"


def test_a_key_fernet_accepts_and_strong_passwords_pass():
    assert env_check.problems(filled_in()) == []
    assert env_check.password_problem("x" * env_check.MIN_PASSWORD_LENGTH) is None
    assert env_check.password_problem("x" * (env_check.MIN_PASSWORD_LENGTH - 1)) == "is shorter than 16 characters"
    assert env_check.password_problem("CHANGE_ME-0123456789") == "is a placeholder"


def test_the_compose_service_mode_checks_its_own_environment():
    """With no file, as the `env-check` service runs it: the values compose resolved."""

    def run(settings: dict[str, str]) -> subprocess.CompletedProcess:
        environment = {"PATH": os.environ["PATH"], **settings}
        return subprocess.run([sys.executable, ENV_CHECK_SCRIPT], env=environment, capture_output=True, text=True)

    strong = {name: value for name, value in filled_in().items() if name in (*env_check.PASSWORDS, "FERNET_KEY")}
    assert run(strong).returncode == 0
    weak = run(strong | {"KAFKA_PASSWORD": "change-me-please-now"})
    assert (weak.returncode, weak.stderr) == (1, f"KAFKA_PASSWORD is a placeholder; {env_check.FIX}\n")


def test_make_secrets_writes_strong_secrets_into_env_and_keeps_the_rest(tmp_path: Path):
    result = make("secrets", tmp_path)
    assert result.returncode == 0, result.stderr
    env_file = tmp_path / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    written = env_check.read_env_file(env_file)
    assert env_check.problems(written) == []
    Fernet(written["FERNET_KEY"].encode())
    secret_names = {*env_check.PASSWORDS, "FERNET_KEY"}
    assert len({written[name] for name in secret_names}) == len(secret_names)
    assert {k: v for k, v in written.items() if k not in secret_names} == {
        k: v for k, v in env_example().items() if k not in secret_names
    }
    assert all(written[name] not in result.stdout + result.stderr for name in secret_names)
    # A second run keeps every secret that passes and replaces only the weak one.
    env_file.write_text(env_file.read_text().replace(f"MONGO_PASSWORD={written['MONGO_PASSWORD']}", "MONGO_PASSWORD=change-me"))
    again = make("secrets", tmp_path)
    assert again.stdout == ".env: new MONGO_PASSWORD\n"
    rewritten = env_check.read_env_file(env_file)
    assert {k: v for k, v in rewritten.items() if k != "MONGO_PASSWORD"} == {
        k: v for k, v in written.items() if k != "MONGO_PASSWORD"
    }
    assert env_check.password_problem(rewritten["MONGO_PASSWORD"]) is None
