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

    python -m probablyfresh_dagster_tests.kafka_compose WORKDIR kafka-cluster
writes the same files for each broker of the kafka-cluster profile in WORKDIR/SERVICE/ (each
broker's addresses of the others, `kafka-2:9093`, become theirs), WORKDIR/bootstrap, the
brokers' compose-network listeners as a bootstrap servers list, and WORKDIR/port, the first's.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from probablyfresh_dagster_tests.compose import compose_model, filled_in, write_env_file
from probablyfresh_dagster_tests.support import free_ports

SERVICE = "kafka"
CLUSTER_PROFILE = "kafka-cluster"
# A host and port in a listener (`NAME://host:port`, the host empty for every interface) or a
# quorum voter (`id@host:port`).
ADDRESS = re.compile(r"(?P<lead>://|@)(?P<host>[\w.-]*):(?P<port>\d+)")


def kafka_service(home: Path) -> dict:
    """The `kafka` service as compose resolves it with .env.example. Compose resolves the whole
    file, which refuses an empty FERNET_KEY or password; the broker reads none of them (its SCRAM
    user is set by the `kafka-user` service once it runs), so generated ones do."""
    return compose_model(write_env_file(home / "env", filled_in()), home)["services"][SERVICE]


def cluster_services(home: Path) -> dict[str, dict]:
    """The brokers of the kafka-cluster profile, by service name, as compose resolves them (see
    `kafka_service`)."""
    model = compose_model(write_env_file(home / "env", filled_in()), home, (CLUSTER_PROFILE,))
    return {name: service for name, service in model["services"].items() if CLUSTER_PROFILE in service.get("profiles", ())}


def outside_docker(
    environment: Mapping[str, str],
    ports: Mapping[int, int],
    published: Mapping[int, int],
    data_dir: Path,
    service: str = SERVICE,
    peers: Mapping[str, Mapping[int, int]] | None = None,
) -> dict[str, str]:
    """`environment` for a broker on this machine: the one place where it differs from the stack's.

    - Every address is 127.0.0.1: a listener's empty host (every interface) and the service's
      name on the compose network (`kafka`), and `localhost`, which may resolve to ::1 first.
    - On a cluster, another broker's name and container port (`kafka-2:9093`) become
      `peers[name][port]`, the free port that broker got for it.
    - A container port becomes `ports[port]`, a free port. Outside Docker nothing maps a published
      port, so an address the host connects to (`localhost:PORT`, `published[PORT]` in the
      container) gets the free port of that container port.
    - KAFKA_LOG_DIRS (the container's volume) is `data_dir`.
    """

    def rewrite(match: re.Match) -> str:
        host, port = match["host"], int(match["port"])
        if host in (peers or {}):
            return f"{match['lead']}127.0.0.1:{(peers or {})[host][port]}"
        if host == "localhost":
            port = published[port]
        elif host not in ("", service):
            raise ValueError(f"{match[0]!r}: an address neither in the container nor on the host")
        return f"{match['lead']}127.0.0.1:{ports[port]}"

    local = {name: ADDRESS.sub(rewrite, value) for name, value in environment.items()}
    return local | {"KAFKA_LOG_DIRS": str(data_dir)}


def container_ports(service: dict) -> dict[int, int]:
    """A free port on this machine for each of the service's listeners' container ports."""
    listeners = service["environment"]["KAFKA_LISTENERS"]
    ports = sorted({int(match["port"]) for match in ADDRESS.finditer(listeners)})
    return dict(zip(ports, free_ports(len(ports)), strict=True))


def write_broker(
    workdir: Path, name: str, service: dict, ports: Mapping[int, int], peers: Mapping[str, Mapping[int, int]] | None = None
) -> int:
    """Write one broker's environment and ports into `workdir` (see the module's docstring); its
    compose-network listener's port."""
    workdir.mkdir(parents=True, exist_ok=True)
    published = {int(port["published"]): port["target"] for port in service["ports"]}
    local = outside_docker(service["environment"], ports, published, workdir / "data", name, peers)
    (workdir / "kafka.env").write_text("".join(f"{key}={value}\n" for key, value in local.items()), encoding="utf-8")
    advertised = {m["host"]: int(m["port"]) for m in ADDRESS.finditer(service["environment"]["KAFKA_ADVERTISED_LISTENERS"])}
    port = ports[advertised[name]]
    (workdir / "port").write_text(str(port), encoding="utf-8")
    (workdir / "host_port").write_text(str(ports[published[advertised["localhost"]]]), encoding="utf-8")
    return port


def main(workdir: Path, profile: str | None = None) -> None:
    """The `kafka` service into `workdir`, or each broker of `profile` into its own folder in it."""
    if profile is None:
        service = kafka_service(workdir)
        write_broker(workdir, SERVICE, service, container_ports(service))
        return
    if profile != CLUSTER_PROFILE:
        raise ValueError(f"no Kafka brokers in the compose profile {profile!r}")
    brokers = cluster_services(workdir)
    ports = {name: container_ports(service) for name, service in brokers.items()}
    listeners = [write_broker(workdir / name, name, service, ports[name], ports) for name, service in brokers.items()]
    (workdir / "bootstrap").write_text(",".join(f"127.0.0.1:{port}" for port in listeners), encoding="utf-8")
    (workdir / "port").write_text(str(listeners[0]), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), *sys.argv[2:])
