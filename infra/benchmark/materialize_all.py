"""`make benchmark-ui`: the UI's "Materialize all" against `make run`, on the same data, in one run.

Each side starts from a fresh temporary state and generates the same data (same seed and size):
`make run` in its own process, then `make dev`'s webserver, to which "Materialize all" is sent as
the UI sends it (the asset job, every asset and check, no config), timed from the run's start
to its end as Dagster records them (its duration in the UI; `make run` times its job the same
way), then from the launch to the end (the run queue, the run's process starting) against `make
run`'s process from the command to its exit, with the start and length of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from probablyfresh_dagster.private_files import owner_only_process

REPOSITORY = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 180
RUN_SECONDS = 900

ASSETS = "{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"
LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run {
  status creationTime startTime endTime stepStats { stepKey startTime endTime } } } }"""
DONE = ("SUCCESS", "FAILURE", "CANCELED")


def main(argv: list[str] | None = None) -> int:
    owner_only_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="probablyfresh-ui-") as folder:
        run_seconds, command_seconds = time_make_run(Path(folder) / "run", args.purchases)
        print(
            f"make run:          {run_seconds:6.1f} s  (the pipeline job, in process; "
            f"{command_seconds:.1f} s from the command to its exit)"
        )
        run = materialize_all(Path(folder) / "ui", args.purchases)
    seconds, launched_seconds = run["endTime"] - run["startTime"], run["endTime"] - run["creationTime"]
    print(
        f"Materialize all:   {seconds:6.1f} s  ({run['status']}, {len(run['stepStats'])} steps, "
        f"{seconds / run_seconds:.1f}x make run; {launched_seconds:.1f} s from the launch to its end, "
        f"{launched_seconds / command_seconds:.1f}x)"
    )
    for step in sorted(run["stepStats"], key=lambda s: s["startTime"] or 0):
        began, ended = step["startTime"] or run["startTime"], step["endTime"] or run["endTime"]
        print(f"  {step['stepKey']:<48} starts at {began - run['startTime']:5.1f} s, takes {ended - began:4.1f} s")
    return 0 if run["status"] == "SUCCESS" else 1


def environment(state: Path) -> dict[str, str]:
    home = state / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPOSITORY / "infra" / "dagster" / "local.yaml", home / "dagster.yaml")
    folders = {"DAGSTER_HOME": home, "PROBABLYFRESH_STATE": state / "state", "PROBABLYFRESH_DATA": state / "data"}
    return {**os.environ, **{name: str(folder) for name, folder in folders.items()}}


def time_make_run(state: Path, purchases: int) -> tuple[float, float]:
    """`make run`'s own time (its job, from start to end) and its process's, from start to exit."""
    command = [sys.executable, "-m", "probablyfresh_dagster.run", "--purchases", str(purchases)]
    started = time.monotonic()
    done = subprocess.run(command, env=environment(state), cwd=REPOSITORY, capture_output=True, text=True)
    command_seconds = time.monotonic() - started
    timed = re.search(r"^ProbablyFresh: .* in ([\d.]+) s$", done.stdout, flags=re.M)
    if done.returncode or not timed:
        raise RuntimeError(f"make run failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return float(timed.group(1)), command_seconds


def materialize_all(state: Path, purchases: int) -> dict:
    with dev_server(environment(state), state.parent / "dev.log") as graphql:
        nodes = graphql(ASSETS)["data"]["assetNodes"]
        run_id = launch(
            graphql,
            [node["assetKey"]["path"] for node in nodes],
            [
                (node["assetKey"]["path"], check["name"])
                for node in nodes
                for check in node["assetChecksOrError"].get("checks", [])
            ],
            {"ops": {"generated_json_files": {"config": {"purchases": purchases}}}},
        )
        return wait_until(lambda: _finished(graphql(RUN, id=run_id)["data"]["runOrError"]), RUN_SECONDS, "the run")


def launch(graphql, assets: list[list[str]], checks: Sequence[tuple[list[str], str]] = (), run_config: dict | None = None) -> str:
    """Materialize `assets` and run `checks` (asset path, check name) as the UI launches them; the run's id."""
    params = {
        "selector": {
            "repositoryLocationName": "probablyfresh",
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": path} for path in assets],
            "assetCheckSelection": [{"assetKey": {"path": path}, "name": name} for path, name in checks],
        },
        "runConfigData": run_config or {},
    }
    launched = graphql(LAUNCH, params=params)["data"]["launchPipelineExecution"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"the launch was refused: {launched}")
    return launched["run"]["runId"]


def _finished(run: dict) -> dict | None:
    return run if run["status"] in DONE else None


@contextmanager
def dev_server(env: dict[str, str], log_path: Path) -> Iterator:
    """`make dev` in `env`, on a free port of 127.0.0.1, its output in `log_path`; yields a GraphQL
    caller once the webserver serves the code location."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "probablyfresh_dagster.local_runs.dagster_dev",
        "-w",
        "workspace.yaml",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    log = log_path.open("w")
    dev = subprocess.Popen(command, cwd=REPOSITORY, env=env, stdout=log, stderr=subprocess.STDOUT)

    def graphql(query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    try:
        wait_until(lambda: graphql(ASSETS).get("data"), STARTUP_SECONDS, "the webserver")
        yield graphql
    finally:
        dev.send_signal(signal.SIGINT)  # dagster_dev stops the whole of `dagster dev` within seconds
        dev.wait(60)
        log.close()


def wait_until(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := probe():
                return found
        except OSError:  # the webserver is not listening yet
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not answer within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
