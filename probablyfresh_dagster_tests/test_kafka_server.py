"""The test broker is docker-compose.yml's `kafka` service: its environment, made into
server.properties by the apache/kafka image's own class, with only addresses, ports and the data
folder changed (kafka_compose.py, infra/testservers/start-kafka.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from .kafka_compose import ADDRESS, kafka_service, outside_docker

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def compose_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return kafka_service(tmp_path_factory.mktemp("compose"))["environment"]


def property_name(variable: str) -> str:
    """The server.properties key the image's KafkaDockerWrapper makes of a KAFKA_* variable."""
    return variable.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")


def any_port(value: str) -> str:
    """`value` with every address as 127.0.0.1 on an unnamed port."""
    return ADDRESS.sub(r"\g<lead>127.0.0.1:PORT", value)


def test_outside_docker_only_addresses_ports_and_the_data_folder_change(compose_environment) -> None:
    # The HOST listener (container port 9094) is published on KAFKA_PORT (9094 in .env.example).
    ports, published = {9092: 41001, 9093: 41002, 9094: 41003}, {9094: 9094}
    local = outside_docker(compose_environment, ports, published, Path("/work/data"))
    changed = {name: value for name, value in local.items() if value != compose_environment[name]}
    assert changed == {
        "KAFKA_LISTENERS": "PLAINTEXT://127.0.0.1:41001,CONTROLLER://127.0.0.1:41002,HOST://127.0.0.1:41003",
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://127.0.0.1:41001,HOST://127.0.0.1:41003",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:41002",
        "KAFKA_LOG_DIRS": "/work/data",
    }


def broker_settings(bootstrap: str) -> tuple[dict[str, str], dict]:
    """The broker's settings from its configuration file, and the cluster as `bootstrap` sees it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="static")
        return {name: entry["value"] for name, entry in configs["broker"]["1"].items()}, admin.describe_cluster()
    finally:
        admin.close()


def test_the_broker_runs_on_the_compose_files_kafka_environment(kafka_port: int, compose_environment) -> None:
    static, cluster = broker_settings(f"127.0.0.1:{kafka_port}")
    expected = {property_name(name): value for name, value in compose_environment.items() if name.startswith("KAFKA_")}
    # KRaft reports node.id under its old name too; the data folder is the test's.
    expected |= {"broker.id": expected["node.id"], "log.dirs": static["log.dirs"]}
    assert {name: any_port(value) for name, value in static.items()} == {
        name: any_port(value) for name, value in expected.items()
    }
    assert cluster["cluster_id"] == compose_environment["CLUSTER_ID"]


def test_the_host_and_the_containers_each_reach_the_broker_on_their_own_listener(kafka_port: int) -> None:
    static, _ = broker_settings(f"127.0.0.1:{kafka_port}")
    advertised = dict(listener.split("://") for listener in static["advertised.listeners"].split(","))
    assert advertised["HOST"] == f"127.0.0.1:{kafka_port}"
    for address in advertised.values():
        _, cluster = broker_settings(address)
        assert [f"{broker['host']}:{broker['port']}" for broker in cluster["brokers"]] == [address]
