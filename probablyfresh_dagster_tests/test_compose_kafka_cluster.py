"""The kafka-cluster compose profile, as Docker Compose v2.40.3's loader resolves it: three KRaft
brokers that are the `kafka` service but for their node, addresses, port and volume, three
voters, replication for a cluster (RF 3, `min.insync.replicas` 2), the Dagster services able to
use it; and the test scripts' brokers made of it (kafka_compose.py)."""

from __future__ import annotations

import re

import pytest

from .compose import DAGSTER_SERVICES, compose_model, env_example, filled_in, write_env_file
from .kafka_compose import ADDRESS, CLUSTER_PROFILE, SERVICE, main

pytestmark = pytest.mark.servers

BROKERS = ("kafka-1", "kafka-2", "kafka-3")
# What a broker of the profile sets apart from the `kafka` service: who it is, and replication.
OWN = {"KAFKA_NODE_ID", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_CONTROLLER_QUORUM_VOTERS"}
REPLICATION = {
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    "KAFKA_DEFAULT_REPLICATION_FACTOR",
}
MIN_INSYNC = {"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_MIN_INSYNC_REPLICAS"}
STACK_SERVERS = ",".join(f"{broker}:9092" for broker in BROKERS)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[dict, dict]:
    """The model without the profile and with it (and .env pointing the stack at it)."""
    folder, settings = tmp_path_factory.mktemp("kafka-cluster-profile"), filled_in()
    default = compose_model(write_env_file(folder / "env", settings), folder)
    on_cluster = settings | {
        "KAFKA_STACK_SERVERS": STACK_SERVERS,
        "KAFKA_REPLICATION_FACTOR": "3",
        "KAFKA_MIN_INSYNC_REPLICAS": "2",
    }
    return default, compose_model(write_env_file(folder / "cluster.env", on_cluster), folder, (CLUSTER_PROFILE,))


def brokers(model: dict) -> dict[str, dict]:
    return {name: model["services"][name] for name in BROKERS}


def listener_ports(environment: dict[str, str]) -> dict[str, int]:
    return {name: int(port) for name, port in re.findall(r"(\w+)://[\w.-]*:(\d+)", environment["KAFKA_LISTENERS"])}


def test_the_profile_adds_three_brokers_and_changes_no_default_service(models):
    default, cluster = models
    assert set(cluster["services"]) - set(default["services"]) == set(BROKERS)
    assert all(CLUSTER_PROFILE in service["profiles"] for service in brokers(cluster).values())
    unchanged = set(default["services"]) - {*DAGSTER_SERVICES, "kafka-user"}  # these read .env's Kafka settings
    assert {name: cluster["services"][name] for name in unchanged} == {name: default["services"][name] for name in unchanged}


def test_each_broker_is_the_kafka_service_but_for_its_node_addresses_port_volume_and_replication(models):
    _, cluster = models
    kafka = cluster["services"][SERVICE]
    volumes = set()
    for service in brokers(cluster).values():
        environment, own = service["environment"], OWN | REPLICATION | MIN_INSYNC
        assert set(environment) == set(kafka["environment"]) | own
        assert {k: v for k, v in environment.items() if k not in own} == {
            k: v for k, v in kafka["environment"].items() if k not in own
        }
        same = ("image", "healthcheck", "networks", "depends_on", "restart")
        assert {key: service[key] for key in same} == {key: kafka[key] for key in same}
        (volume,) = service["volumes"]
        assert volume["target"] == kafka["volumes"][0]["target"] and volume["type"] == "volume"
        volumes.add(volume["source"])
    assert len(volumes) == len(BROKERS) and kafka["volumes"][0]["source"] not in volumes


def test_three_voters_each_a_broker_on_its_controller_listener(models):
    _, cluster = models
    voters = {service["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for service in brokers(cluster).values()}
    (quorum,) = voters
    expected = {
        f"{service['environment']['KAFKA_NODE_ID']}@{name}:{listener_ports(service['environment'])['CONTROLLER']}"
        for name, service in brokers(cluster).items()
    }
    assert set(quorum.split(",")) == expected and len(expected) == 3
    assert {service["environment"]["KAFKA_PROCESS_ROLES"] for service in brokers(cluster).values()} == {"broker,controller"}


def test_every_topic_internal_ones_included_is_on_three_brokers_and_written_to_two_at_least(models):
    _, cluster = models
    for service in brokers(cluster).values():
        environment = service["environment"]
        assert {environment[name] for name in REPLICATION} == {str(len(BROKERS))}
        assert {environment[name] for name in MIN_INSYNC} == {str(len(BROKERS) - 1)}


def test_each_broker_advertises_itself_and_publishes_its_host_listener_on_its_own_port(models):
    settings = env_example()
    _, cluster = models
    published = set()
    for number, (name, service) in enumerate(brokers(cluster).items(), start=1):
        environment = service["environment"]
        ((port,),) = [[(p["host_ip"], p["published"], p["target"]) for p in service["ports"]]]
        assert port == ("127.0.0.1", settings[f"KAFKA_CLUSTER_PORT_{number}"], listener_ports(environment)["HOST"])
        advertised = {m["lead"] + m["host"]: m["port"] for m in ADDRESS.finditer(environment["KAFKA_ADVERTISED_LISTENERS"])}
        assert advertised == {f"://{name}": str(listener_ports(environment)["PLAINTEXT"]), "://localhost": port[1]}
        published.add(port[1])
    assert len(published) == len(BROKERS) and settings["KAFKA_PORT"] not in published


def test_the_dagster_services_and_the_scram_user_follow_env_to_the_cluster(models):
    default, cluster = models
    for model, servers, replication in ((default, "kafka:9092", ("1", "1")), (cluster, STACK_SERVERS, ("3", "2"))):
        for name in DAGSTER_SERVICES:
            environment = model["services"][name]["environment"]
            assert environment["KAFKA_BOOTSTRAP_SERVERS"] == servers
            assert (environment["KAFKA_REPLICATION_FACTOR"], environment["KAFKA_MIN_INSYNC_REPLICAS"]) == replication
        assert model["services"]["kafka-user"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == servers
    # The cluster's replication is the one its brokers give the internal topics.
    environment = cluster["services"]["kafka-1"]["environment"]
    assert (environment["KAFKA_DEFAULT_REPLICATION_FACTOR"], environment["KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")


def test_the_stack_waits_for_each_broker_only_when_the_profile_runs_it(models):
    _, cluster = models
    for name in ("user-code", "kafka-user"):
        depends_on = cluster["services"][name]["depends_on"]
        assert {broker: depends_on[broker] for broker in BROKERS} == {
            broker: {"condition": "service_healthy", "required": False} for broker in BROKERS
        }
        assert depends_on[SERVICE] == {"condition": "service_healthy", "required": True}
    assert {broker: list(service["depends_on"]) for broker, service in brokers(cluster).items()} == {
        broker: ["env-check"] for broker in BROKERS
    }


def test_the_test_scripts_brokers_reach_each_other_on_loopback_with_their_own_data(tmp_path):
    """kafka_compose.py, as start-kafka-cluster.sh runs it: one folder per broker, every address
    127.0.0.1, each broker's quorum the others' controller listeners."""
    main(tmp_path, CLUSTER_PROFILE)
    environments = {
        name: dict(line.split("=", 1) for line in (tmp_path / name / "kafka.env").read_text().splitlines()) for name in BROKERS
    }
    controllers = {f"{env['KAFKA_NODE_ID']}@127.0.0.1:{listener_ports(env)['CONTROLLER']}" for env in environments.values()}
    assert {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in environments.values()} == {",".join(sorted(controllers))}
    addresses = [m["host"] for env in environments.values() for value in env.values() for m in ADDRESS.finditer(value)]
    assert set(addresses) == {"127.0.0.1"}
    assert {env["KAFKA_LOG_DIRS"] for env in environments.values()} == {str(tmp_path / name / "data") for name in BROKERS}
    plaintext = [str(listener_ports(env)["PLAINTEXT"]) for env in environments.values()]
    assert (tmp_path / "bootstrap").read_text() == ",".join(f"127.0.0.1:{port}" for port in plaintext)
    assert (tmp_path / "port").read_text() == plaintext[0]
