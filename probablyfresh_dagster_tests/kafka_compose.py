"""The `kafka` service of docker-compose.yml, as a broker started outside Docker.

The apache/kafka image is configured by its environment alone: its start-up script runs
`kafka.docker.KafkaDockerWrapper setup`, which writes one server.properties line per KAFKA_*
variable and formats the storage with CLUSTER_ID. infra/testservers/start-kafka.sh runs that same
class on the environment written here: the service's own as compose resolves it with
.env.example (compose.py; not with .env or the shell: every test run gets the same broker), with
only what cannot be the same outside Docker changed (`outside_docker`). The image's own
server.properties is used only when no KAFKA_* variable is set, so the broker runs on exactly
these lines and Kafka's defaults.

    python -m probablyfresh_dagster_tests.kafka_compose WORKDIR
writes WORKDIR/kafka.env (NAME=VALUE lines), WORKDIR/port (the listener of the compose network,
`kafka:9092` in the stack: no authentication, what the stack's own services use) and
WORKDIR/host_port (the HOST listener, published on the host: SASL/SCRAM only).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from probablyfresh_dagster_tests.compose import compose_model, filled_in, write_env_file
from probablyfresh_dagster_tests.support import free_ports

SERVICE = "kafka"
# A host and port in a listener (`NAME://host:port`, the host empty for every interface) or a
# quorum voter (`id@host:port`).
ADDRESS = re.compile(r"(?P<lead>://|@)(?P<host>[\w.-]*):(?P<port>\d+)")


def kafka_service(home: Path) -> dict:
    """The `kafka` service as compose resolves it with .env.example. Compose resolves the whole
    file, which refuses an empty FERNET_KEY or password; the broker reads none of them (its SCRAM
    user is set by the `kafka-user` service once it runs), so generated ones do."""
    return compose_model(write_env_file(home / "env", filled_in()), home)["services"][SERVICE]


def outside_docker(
    environment: Mapping[str, str], ports: Mapping[int, int], published: Mapping[int, int], data_dir: Path
) -> dict[str, str]:
    """`environment` for a broker on this machine: the one place where it differs from the stack's.

    - Every address is 127.0.0.1: a listener's empty host (every interface) and the service's
      name on the compose network (`kafka`), and `localhost`, which may resolve to ::1 first.
    - A container port becomes `ports[port]`, a free port. Outside Docker nothing maps a published
      port, so an address the host connects to (`localhost:PORT`, `published[PORT]` in the
      container) gets the free port of that container port.
    - KAFKA_LOG_DIRS (the container's volume) is `data_dir`.
    """

    def rewrite(match: re.Match) -> str:
        host, port = match["host"], int(match["port"])
        if host == "localhost":
            port = published[port]
        elif host not in ("", SERVICE):
            raise ValueError(f"{match[0]!r}: an address neither in the container nor on the host")
        return f"{match['lead']}127.0.0.1:{ports[port]}"

    local = {name: ADDRESS.sub(rewrite, value) for name, value in environment.items()}
    return local | {"KAFKA_LOG_DIRS": str(data_dir)}


def main(workdir: Path) -> None:
    """Write the broker's environment and client port into `workdir` (see the module's docstring)."""
    service = kafka_service(workdir)
    listeners = service["environment"]["KAFKA_LISTENERS"]
    container_ports = sorted({int(match["port"]) for match in ADDRESS.finditer(listeners)})
    ports = dict(zip(container_ports, free_ports(len(container_ports)), strict=True))
    published = {int(port["published"]): port["target"] for port in service["ports"]}
    local = outside_docker(service["environment"], ports, published, workdir / "data")
    (workdir / "kafka.env").write_text("".join(f"{name}={value}\n" for name, value in local.items()), encoding="utf-8")
    advertised = {m["host"]: int(m["port"]) for m in ADDRESS.finditer(service["environment"]["KAFKA_ADVERTISED_LISTENERS"])}
    (workdir / "port").write_text(str(ports[advertised[SERVICE]]), encoding="utf-8")
    (workdir / "host_port").write_text(str(ports[published[advertised["localhost"]]]), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
