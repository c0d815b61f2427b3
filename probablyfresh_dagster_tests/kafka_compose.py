"""The `kafka` service of docker-compose.yml, as a broker started outside Docker.

The apache/kafka image is configured by its environment alone: its start-up script runs
`kafka.docker.KafkaDockerWrapper setup`, which writes one server.properties line per KAFKA_*
variable and formats the storage with CLUSTER_ID. infra/testservers/start-kafka.sh runs that same
class on the environment written here: the service's own, its `${VAR}`s substituted from
.env.example (not from .env or the shell, as compose would: every test run gets the same broker),
with only what cannot be the same outside Docker changed (`outside_docker`). The image's own
server.properties is used only when no KAFKA_* variable is set, so the broker runs on exactly
these lines and Kafka's defaults.

    python -m probablyfresh_dagster_tests.kafka_compose WORKDIR
writes WORKDIR/kafka.env (NAME=VALUE lines) and WORKDIR/port (the port the host connects to).
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from probablyfresh_dagster.settings import PROJECT_ROOT

SERVICE = "kafka"
# Compose's variable syntax: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:?error}` (and
# their forms without the colon, which treat an empty value as set).
VARIABLE = re.compile(
    r"\$(?:(?P<dollar>\$)|(?P<bare>[A-Za-z_]\w*)|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)
# A host and port in a listener (`NAME://host:port`, the host empty for every interface) or a
# quorum voter (`id@host:port`).
ADDRESS = re.compile(r"(?P<lead>://|@)(?P<host>[\w.-]*):(?P<port>\d+)")
# A published port, on loopback only: "127.0.0.1:${VARIABLE}:CONTAINER_PORT".
PUBLISHED = re.compile(r"127\.0\.0\.1:\$\{(?P<variable>\w+)\}:(?P<container>\d+)")


def env_file(path: Path) -> dict[str, str]:
    """The NAME=VALUE lines of a compose env file (comments and blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """`text` with its variables substituted as compose does; an unset one is an error here."""

    def substitute(match: re.Match) -> str:
        if match["dollar"]:
            return "$"
        name = match["bare"] or match["name"]
        value, op = variables.get(name), match["op"] or ""
        missing = value is None or (op.startswith(":") and value == "")
        if missing and op.endswith("-"):
            return match["arg"]
        if missing:
            raise KeyError(f"{name} is not set: {match['arg'] or 'no value in the env file'}")
        return value

    return VARIABLE.sub(substitute, text)


def kafka_service() -> dict:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return compose["services"][SERVICE]


def service_environment(service: Mapping, variables: Mapping[str, str]) -> dict[str, str]:
    """The service's environment as compose hands it to the container."""
    return {name: interpolate(str(value), variables) for name, value in service["environment"].items()}


def published_ports(service: Mapping) -> dict[int, str]:
    """{container port: the variable holding its host port} of the service's `ports`."""
    entries = [PUBLISHED.fullmatch(entry) for entry in service["ports"]]
    return {int(entry["container"]): entry["variable"] for entry in entries}


def outside_docker(environment: Mapping[str, str], ports: Mapping[int, int], data_dir: Path) -> dict[str, str]:
    """`environment` for a broker on this machine: the one place where it differs from the stack's.

    - Every address is 127.0.0.1: a listener's empty host (every interface) and the service's
      name on the compose network (`kafka`), and `localhost`, which may resolve to ::1 first.
    - A container port becomes `ports[port]`: a free port, or the one the host already uses for a
      published port. An address the host connects to (`localhost:PORT`) has its host port.
    - KAFKA_LOG_DIRS (the container's volume) is `data_dir`.
    """

    def rewrite(match: re.Match) -> str:
        host, port = match["host"], int(match["port"])
        if host in ("", SERVICE):
            port = ports[port]
        elif host != "localhost":
            raise ValueError(f"{match[0]!r}: an address neither in the container nor on the host")
        return f"{match['lead']}127.0.0.1:{port}"

    local = {name: ADDRESS.sub(rewrite, value) for name, value in environment.items()}
    return local | {"KAFKA_LOG_DIRS": str(data_dir)}


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on loopback right now (the kernel picks them)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def main(workdir: Path) -> None:
    """Write the broker's environment and client port into `workdir` (see the module's docstring)."""
    service, variables = kafka_service(), env_file(PROJECT_ROOT / ".env.example")
    listeners = interpolate(service["environment"]["KAFKA_LISTENERS"], variables)
    container_ports = sorted({int(match["port"]) for match in ADDRESS.finditer(listeners)})
    ports = dict(zip(container_ports, free_ports(len(container_ports))))
    # Outside Docker a published port is not mapped: the host connects to the listener's own port.
    published = published_ports(service)
    (host_port_variable,) = published.values()
    variables |= {variable: str(ports[port]) for port, variable in published.items()}
    local = outside_docker(service_environment(service, variables), ports, workdir / "data")
    (workdir / "kafka.env").write_text("".join(f"{name}={value}\n" for name, value in local.items()), encoding="utf-8")
    (workdir / "port").write_text(variables[host_port_variable], encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
