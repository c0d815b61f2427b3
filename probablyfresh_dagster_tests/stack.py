"""The docker-compose stack's own processes, started on this machine from the stack's own files.

`docker-compose.yml` is resolved by compose's own loader (see compose.py), and each Dagster
service runs its compose `command` with its compose `environment`, waited for with its compose
`healthcheck`. What exists only inside Docker is replaced in one place, `on_this_machine`: service
host names and ports by the servers started here, `/opt` paths by temporary folders, the
ClickHouse server by chDB (no server binary here), and DockerRunLauncher by Dagster's default
launcher (no container can start here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import yaml

from probablyfresh_dagster.settings import PROJECT_ROOT

from .support import free_ports, wait_for

VENV_BIN = Path(sys.executable).parent
HEALTH_TIMEOUT_S = 180


def on_this_machine(environment: dict[str, str], root: Path, ports: dict[str, int]) -> dict[str, str]:
    """A Dagster service's compose environment with the Docker-only parts replaced (see the module
    docstring); each replaced value is checked first, so a change in the compose file shows here."""
    env = dict(environment)
    assert (env["DAGSTER_POSTGRES_HOST"], env["DAGSTER_POSTGRES_PORT"]) == ("postgres", "5432")
    env.update(DAGSTER_POSTGRES_HOST="127.0.0.1", DAGSTER_POSTGRES_PORT=str(ports["postgres"]))
    assert env["MONGO_URL"].startswith("mongodb://mongo:27017/")
    env["MONGO_URL"] = env["MONGO_URL"].replace("mongo:27017", f"127.0.0.1:{ports['mongo']}")
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{ports['kafka']}"
    assert env["CLICKHOUSE_DSN"].startswith("http://clickhouse:8123/")
    env["CLICKHOUSE_DSN"] = f"chdb:///{root / 'clickhouse'}"  # chDB has no users
    del env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"]
    assert env["PROBABLYFRESH_DATA"] == "/opt/probablyfresh/data"
    env["PROBABLYFRESH_DATA"] = str(root / "data")
    return env


def dagster_home(root: Path) -> Path:
    """infra/dagster/dagster.yaml with the default run launcher instead of DockerRunLauncher."""
    instance = yaml.safe_load((PROJECT_ROOT / "infra/dagster/dagster.yaml").read_text(encoding="utf-8"))
    assert instance.pop("run_launcher")["class"] == "DockerRunLauncher"
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance), encoding="utf-8")
    return home


def workspace(root: Path, grpc_port: int) -> Path:
    """infra/dagster/workspace.yaml pointing at the code server started here."""
    config = yaml.safe_load((PROJECT_ROOT / "infra/dagster/workspace.yaml").read_text(encoding="utf-8"))
    server = config["load_from"][0]["grpc_server"]
    server.update(host="127.0.0.1", port=grpc_port)
    path = root / "workspace.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextmanager
def dagster_services(services: dict, root: Path, ports: dict[str, int]) -> Iterator[int]:
    """The code server, the webserver and the daemon, each with its compose command, environment
    and health check, on free loopback ports and the backends in `ports`; yields the webserver's
    port once all three are healthy."""
    grpc_port, web_port = free_ports(2)
    published = {"user-code": (4000, grpc_port), "dagster-webserver": (3000, web_port)}
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(root), "DAGSTER_HOME": str(dagster_home(root))}
    workspace_file = str(workspace(root, grpc_port))
    with ExitStack() as started:
        for name in ("user-code", "dagster-webserver", "dagster-daemon"):
            spec = services[name]
            options, ports_here = {"--host": "127.0.0.1", "--workspace": workspace_file}, {}
            if name in published:
                container_port, host_port = published[name]
                options["--port"], ports_here = str(host_port), {container_port: host_port}
            kind, *healthcheck = spec["healthcheck"]["test"]
            assert kind == "CMD", name
            started.enter_context(
                service(
                    name,
                    localized(spec["command"], options, ports_here),
                    localized(healthcheck, options, ports_here),
                    {**env, **on_this_machine(spec["environment"], root, ports)},
                    root,
                )
            )
        yield web_port


def localized(args: list[str], options: dict[str, str], ports: dict[int, int]) -> list[str]:
    """A compose command on this machine: the values of `options` replaced, `localhost:<container
    port>` pointed at the host port, and the executable taken from this environment."""
    out = []
    for i, arg in enumerate(args):
        if i and args[i - 1] in options:
            arg = options[args[i - 1]]
        for container_port, host_port in ports.items():
            arg = arg.replace(f"localhost:{container_port}", f"127.0.0.1:{host_port}")
        out.append(arg)
    out[0] = str(VENV_BIN / out[0])
    return out


@contextmanager
def service(name: str, command: list[str], healthcheck: list[str], env: dict[str, str], cwd: Path) -> Iterator[None]:
    """Run `command` in its own process group (log in cwd/<name>.log) until its health check passes;
    stop the group when done."""
    log = (cwd / f"{name}.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:

        def healthy() -> bool:
            assert process.poll() is None, f"{name} exited: {tail(cwd / f'{name}.log')}"
            return subprocess.run(healthcheck, env=env, cwd=cwd, capture_output=True, timeout=60).returncode == 0

        wait_for(healthy, HEALTH_TIMEOUT_S, f"{name} to be healthy", interval=1)
        yield
    finally:
        stop_group(process)
        log.close()


def stop_group(process: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the process group (the service and what it started), SIGKILL what is left after grace_s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace_s)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        pass
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]
