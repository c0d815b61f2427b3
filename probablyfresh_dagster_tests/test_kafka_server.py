"""The test broker is docker-compose.yml's `kafka` service: its environment, made into
server.properties by the apache/kafka image's own class, with only addresses, ports and the data
folder changed (kafka_compose.py, infra/testservers/start-kafka.sh). So its HOST listener, the one
the stack publishes on the host, takes only the SCRAM user that the compose `kafka-user` service
sets, as that service runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError

from probablyfresh_dagster.events import OutgoingMessage
from probablyfresh_dagster.profiles import profile_resources
from probablyfresh_dagster.resources.kafka_events import KafkaEventLog
from probablyfresh_dagster.settings import PROJECT_ROOT, Settings

from .compose import compose_model, filled_in, write_env_file
from .kafka_compose import ADDRESS, kafka_service, outside_docker

pytestmark = pytest.mark.servers
REFUSAL_TIMEOUT_MS = 3000
JAAS_CONFIG = "listener.name.host.scram-sha-512.sasl.jaas.config"


@pytest.fixture(scope="module")
def compose_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return kafka_service(tmp_path_factory.mktemp("compose"))["environment"]


def property_name(variable: str) -> str:
    """The server.properties key the image's KafkaDockerWrapper makes of a KAFKA_* variable."""
    return variable.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")


def any_port(value: str | None) -> str | None:
    """`value` with every address as 127.0.0.1 on an unnamed port."""
    return value and ADDRESS.sub(r"\g<lead>127.0.0.1:PORT", value)


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


def broker_settings(bootstrap: str, **client) -> tuple[dict[str, str | None], set[str], dict]:
    """The broker's settings from its configuration file (a secret one reads None), the names of
    the secret ones, and the cluster as `bootstrap` sees it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="static")
        entries = configs["broker"]["1"].items()
        sensitive = {name for name, entry in entries if entry["is_sensitive"]}
        return {name: entry["value"] for name, entry in entries}, sensitive, admin.describe_cluster()
    finally:
        admin.close()


def test_the_broker_runs_on_the_compose_files_kafka_environment(kafka_port: int, compose_environment) -> None:
    static, sensitive, cluster = broker_settings(f"127.0.0.1:{kafka_port}")
    expected = {property_name(name): value for name, value in compose_environment.items() if name.startswith("KAFKA_")}
    # KRaft reports node.id under its old name too; the data folder is the test's; the host
    # listener's login module is a secret setting (the broker never shows its value).
    expected |= {"broker.id": expected["node.id"], "log.dirs": static["log.dirs"], JAAS_CONFIG: None}
    assert sensitive == {JAAS_CONFIG}
    protocols = static["listener.security.protocol.map"]
    assert protocols is not None and protocols.split(",")[-1] == "HOST:SASL_PLAINTEXT"
    assert {name: any_port(value) for name, value in static.items()} == {
        name: any_port(value) for name, value in expected.items()
    }
    assert cluster["cluster_id"] == compose_environment["CLUSTER_ID"]


# ---- the HOST listener: SASL/SCRAM-SHA-512, its user set by the compose `kafka-user` service ----


def kafka_user_service(root: Path, kafka_port: int, **settings: str) -> tuple[str, str]:
    """Run the compose `kafka-user` service's command with its environment, `kafka:9092` pointed
    at the test broker; return the user and password it set."""
    root.mkdir(exist_ok=True)
    service = compose_model(write_env_file(root / "env", filled_in(**settings)), root)["services"]["kafka-user"]
    env = dict(service["environment"])
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{kafka_port}"
    command = [sys.executable if arg == "python" else arg for arg in service["command"]]
    result = subprocess.run(
        command,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert env["KAFKA_PASSWORD"] not in result.stdout + result.stderr
    return env["KAFKA_USER"], env["KAFKA_PASSWORD"]


@pytest.fixture(scope="module")
def host_user(kafka_dir: Path, kafka_port: int, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return kafka_user_service(tmp_path_factory.mktemp("kafka-user"), kafka_port)


def logged_since(log: Path, offset: int) -> str:
    """What the broker logged past `offset` characters of its log."""
    return log.read_text()[offset:]


def sasl(user: str, password: str) -> dict[str, str]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


def test_each_listener_is_advertised_at_its_own_port(kafka_dir: Path, kafka_port: int, host_user) -> None:
    host_port = int((kafka_dir / "host_port").read_text())
    static, _, _ = broker_settings(f"127.0.0.1:{kafka_port}")
    listeners = static["advertised.listeners"]
    assert listeners is not None
    advertised = {name: address for name, address in (listener.split("://") for listener in listeners.split(","))}
    assert advertised == {"PLAINTEXT": f"127.0.0.1:{kafka_port}", "HOST": f"127.0.0.1:{host_port}"}
    _, _, cluster = broker_settings(advertised["HOST"], **sasl(*host_user))
    assert [f"{broker['host']}:{broker['port']}" for broker in cluster["brokers"]] == [advertised["HOST"]]


def test_the_host_listener_refuses_an_anonymous_producer(kafka_dir: Path, kafka_port: int) -> None:
    """The same producer is taken on the compose network's listener, so the refusal is the
    listener's, not a dead port."""
    host_port = int((kafka_dir / "host_port").read_text())
    accepted = KafkaProducer(bootstrap_servers=f"127.0.0.1:{kafka_port}", bootstrap_timeout_ms=REFUSAL_TIMEOUT_MS)
    accepted.close()
    logged = len((kafka_dir / "server.log").read_text())
    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        KafkaProducer(bootstrap_servers=f"127.0.0.1:{host_port}", bootstrap_timeout_ms=REFUSAL_TIMEOUT_MS)
    assert "during SASL handshake" in logged_since(kafka_dir / "server.log", logged)


def test_the_host_listener_takes_the_configured_user_through_the_docker_profiles_kafka_resource(
    kafka_dir: Path, host_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = host_user
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{(kafka_dir / 'host_port').read_text()}")
    monkeypatch.setenv("KAFKA_PARTITIONS", "1")
    monkeypatch.setenv("KAFKA_USER", user)
    monkeypatch.setenv("KAFKA_PASSWORD", password)
    kafka = profile_resources(Settings(profile="docker"))["kafka"]
    with dg.build_resources({"kafka": kafka}) as resources, resources.kafka.open() as log:
        log.ensure_topic("host-listener")
        written = log.publish("host-listener", [OutgoingMessage("key-1", b"through SASL/SCRAM")])
        (batch,) = log.read("host-listener", {}, written)
    assert [(message.key, message.value) for message in batch] == [("key-1", b"through SASL/SCRAM")]


def test_a_wrong_password_is_refused_without_being_quoted(kafka_dir: Path, host_user) -> None:
    user, password = host_user
    wrong = password[::-1]
    log = KafkaEventLog(
        f"127.0.0.1:{(kafka_dir / 'host_port').read_text()}", 1, timeout_ms=REFUSAL_TIMEOUT_MS, username=user, password=wrong
    )
    logged = len((kafka_dir / "server.log").read_text())
    with pytest.raises(ConnectionError) as refused:
        log.ensure_topic("never-created")
    log.close()
    assert wrong not in str(refused.value) and password not in str(refused.value)
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in logged_since(kafka_dir / "server.log", logged)


def test_a_new_password_in_env_replaces_the_old_one_at_the_next_start(kafka_dir: Path, kafka_port: int, tmp_path: Path) -> None:
    """`kafka-user` runs at every `make up`: the user of an existing volume gets the new password."""
    host = f"127.0.0.1:{(kafka_dir / 'host_port').read_text()}"
    user, old = kafka_user_service(tmp_path / "first", kafka_port, KAFKA_USER="rotated")
    _, new = kafka_user_service(tmp_path / "second", kafka_port, KAFKA_USER="rotated")
    _, _, cluster = broker_settings(host, **sasl(user, new))
    assert cluster["brokers"]
    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        KafkaAdminClient(bootstrap_servers=host, bootstrap_timeout_ms=REFUSAL_TIMEOUT_MS, **sasl(user, old))
