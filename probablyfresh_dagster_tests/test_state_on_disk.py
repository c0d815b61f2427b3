"""The local state on disk: owner-only whatever the umask, whoever starts the platform, and a dev
key that is never half written."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from cryptography.fernet import Fernet
from dagster_graphql import DagsterGraphQLClient

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.private_files import private_dir
from probablyfresh_dagster.profiles import profile_resources
from probablyfresh_dagster.resources.fernet import FernetResource
from probablyfresh_dagster.settings import PROJECT_ROOT, Settings

from .processes import descendant_sessions, kill, session_processes, webserver_answers
from .support import LOCAL_INSTANCE, free_port, local_env, run_in_processes, wait_for


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual umask (others may read), so owner-only modes cannot come from the umask."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_while_in_use(state: Path) -> dict[str, str]:
    """Open each embedded backend of the local profile: the mode of every file in `state` then."""
    resources = profile_resources(Settings(profile="local", state_dir=state, data_dir=state.parent / "data"))
    resources["fernet"].cipher()
    with resources["mongo"].open(), resources["kafka"].open(), resources["clickhouse"].client() as client:
        client.command("SELECT 1")
        return {path.name: oct(mode(path)) for path in state.iterdir() if path.is_file()}


def test_the_state_folder_and_what_the_platform_creates_in_it_are_owner_only(tmp_path, permissive_umask, monkeypatch):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    state = tmp_path / "state"

    modes = modes_while_in_use(state)

    assert {"mongo.sqlite3", "mongo.sqlite3-wal", "kafka.sqlite3-shm", "clickhouse.lock", "fernet.key"} <= set(modes)
    assert modes == {name: "0o600" for name in modes}
    assert mode(state) == 0o700 and mode(state / "clickhouse") == 0o700


def test_state_left_readable_by_an_older_version_is_narrowed(tmp_path, permissive_umask, monkeypatch):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    state = tmp_path / "state"
    (state / "clickhouse").mkdir(parents=True, mode=0o755)
    state.chmod(0o755)
    for name in ("mongo.sqlite3", "clickhouse.lock"):
        (state / name).touch(mode=0o644)

    modes = modes_while_in_use(state)

    assert modes == {name: "0o600" for name in modes}
    assert mode(state) == 0o700 and mode(state / "clickhouse") == 0o700


def test_a_shared_folder_given_as_the_state_folder_is_left_as_it_is(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    private_dir(shared)
    assert mode(shared) == 0o1777


def test_a_leftover_temporary_key_file_is_neither_used_nor_in_the_way(tmp_path):
    key_file = tmp_path / "state" / "fernet.key"
    key_file.parent.mkdir()
    leftover = key_file.with_name(".fernet.key.killed.tmp")  # a first run killed before the link
    leftover.write_bytes(Fernet.generate_key())

    token = FernetResource(dev_key_path=str(key_file)).cipher().encrypt(b"+79123456789")

    assert Fernet(key_file.read_bytes()).decrypt(token) == b"+79123456789"
    assert key_file.read_bytes() != leftover.read_bytes()
    assert sorted(path.name for path in key_file.parent.iterdir()) == [leftover.name, "fernet.key"]


@pytest.mark.parametrize("content", [b"", b"\n", b"not-a-key-but-a-secret"])
def test_an_empty_or_invalid_dev_key_file_is_an_error_naming_the_file_not_the_key(tmp_path, content):
    key_file = tmp_path / "fernet.key"
    key_file.write_bytes(content)
    with pytest.raises(ValueError) as error:
        FernetResource(dev_key_path=str(key_file)).cipher()
    message = str(error.value)
    assert str(key_file) in message and ("not a valid" if content.strip() else "is empty") in message
    assert "secret" not in message
    assert key_file.read_bytes() == content  # never replaced behind the user's back


def _encrypt_with_dev_key(key_file: str, token_file: str) -> None:
    Path(token_file).write_bytes(FernetResource(dev_key_path=key_file).cipher().encrypt(b"x"))


def test_concurrent_first_runs_agree_on_one_dev_key(tmp_path):
    key_file = tmp_path / "state" / "fernet.key"
    tokens = [tmp_path / f"token{i}" for i in range(4)]
    run_in_processes(_encrypt_with_dev_key, [(str(key_file), str(token)) for token in tokens])
    key = Fernet(key_file.read_bytes())
    assert [key.decrypt(token.read_bytes()) for token in tokens] == [b"x"] * 4
    assert [path.name for path in key_file.parent.iterdir()] == ["fernet.key"]


UNDER_UMASK_022 = ("/bin/sh", "-c", 'umask 022 && exec "$@"', "sh")
"""Prefix of a command started as a scheduler, an IDE or a shell starts it: umask 022, no make."""
SELECTION = ",".join([*(f"{e.name}_json_files" for e in ENTITIES), "stores_mongo_collection", "stores_kafka_topic"])
ENTRY_POINTS = {
    "generator": ["-m", "probablyfresh_dagster.generator", "--out", "{data}", "--purchases", "5"],
    "run": ["-m", "probablyfresh_dagster.run"],
    "dagster asset materialize": [
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "probablyfresh_dagster.definitions",
        "--select",
        SELECTION,
    ],
}


def dagster_home_made_by_hand(root: Path) -> dict[str, str]:
    """The environment of a user who made DAGSTER_HOME and its dagster.yaml under umask 022."""
    env = local_env(root)
    home = Path(env["DAGSTER_HOME"])
    previous = os.umask(0o022)
    try:
        home.mkdir()
        shutil.copy(LOCAL_INSTANCE, home / "dagster.yaml")
    finally:
        os.umask(previous)
    return env


def readable_by_others(env: dict[str, str]) -> list[str]:
    """Every folder and file under the data root, the state folder and DAGSTER_HOME (themselves
    included) that others may use, but the user's own dagster.yaml; each with its mode."""
    found = []
    for root in (env["PROBABLYFRESH_DATA"], env["PROBABLYFRESH_STATE"], env["DAGSTER_HOME"]):
        for folder, _, files in os.walk(root):
            for path in (Path(folder), *(Path(folder, name) for name in files)):
                if path != Path(env["DAGSTER_HOME"], "dagster.yaml") and mode(path) & 0o077:
                    found.append(f"{path} {oct(mode(path))}")
    return found


def written(env: dict[str, str]) -> int:
    return sum(len(files) for key in ("PROBABLYFRESH_DATA", "DAGSTER_HOME") for _, _, files in os.walk(env[key]))


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_an_entry_point_started_without_make_writes_owner_only(tmp_path, entry_point):
    env = dagster_home_made_by_hand(tmp_path)
    arguments = [argument.format(data=env["PROBABLYFRESH_DATA"]) for argument in ENTRY_POINTS[entry_point]]
    done = subprocess.run([*UNDER_UMASK_022, sys.executable, *arguments], env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert written(env) > 5
    assert readable_by_others(env) == []


@pytest.mark.slow
def test_make_devs_entry_point_started_without_make_writes_owner_only(tmp_path):
    env = dagster_home_made_by_hand(tmp_path)
    port = free_port()
    command = [
        *UNDER_UMASK_022,
        sys.executable,
        "-m",
        "probablyfresh_dagster.local_runs.dagster_dev",
        "-w",
        "workspace.yaml",
        "-p",
        str(port),
    ]
    with (tmp_path / "dev.log").open("w") as log:
        dev = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sessions = {dev.pid}
    try:
        wait_for(lambda: webserver_answers(port) or dev.poll() is not None, 180, "the webserver")
        assert dev.poll() is None, (tmp_path / "dev.log").read_text()
        sessions |= descendant_sessions(dev.pid)
        run_id = DagsterGraphQLClient("127.0.0.1", port_number=port).submit_job_execution(
            "pipeline",
            repository_location_name="probablyfresh",
            repository_name="__repository__",
            asset_selection=[f"{e.name}_json_files" for e in ENTITIES],
        )
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            wait_for(lambda: instance.get_run_by_id(run_id).is_finished, 180, "the run")
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(timeout=60)
    finally:
        for pid in session_processes(sessions | descendant_sessions(dev.pid)):
            kill(pid)
        dev.wait()
    assert written(env) > 5
    assert readable_by_others(env) == []
