"""docker-compose.yml resolved by Docker Compose v2.40.3's loader with .env.example: the refusals, the
ports, the credentials, the images, volumes and network (see compose.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from probablyfresh_dagster.settings import PROJECT_ROOT

from .compose import DAGSTER_SERVICES, ONE_SHOTS, PINNED_TAG, SECRETS, compose_config, compose_model, filled_in, write_env_file
from .stack_scripts import env_check

pytestmark = pytest.mark.servers

REQUIRED = SECRETS
HOW_TO_FIX = "set it in .env, see .env.example"

Config = Callable[[Path], subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Config:
    home = tmp_path_factory.mktemp("compose-home")
    return lambda env_file: compose_config(env_file, home)


def env_file(folder: Path, settings: dict[str, str]) -> Path:
    return write_env_file(folder / "env", settings)


def resolved(folder: Path, settings: dict[str, str]) -> dict:
    return compose_model(env_file(folder, settings), folder)


def test_env_example_as_shipped_is_refused_for_its_empty_secrets(config):
    result = config(PROJECT_ROOT / ".env.example")
    assert result.returncode != 0 and result.stdout == ""
    refused = re.search(f"required variable ([A-Z_]+) is missing a value: {HOW_TO_FIX}", result.stderr)
    assert refused and refused[1] in REQUIRED


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_key_or_password_is_refused_by_name(config, tmp_path: Path, name: str):
    settings = filled_in()
    del settings[name]
    result = config(env_file(tmp_path, settings))
    assert result.returncode != 0 and result.stdout == ""
    assert f"required variable {name} is missing a value: {HOW_TO_FIX}" in result.stderr


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    return filled_in()


@pytest.fixture(scope="module")
def model(tmp_path_factory, settings) -> dict:
    return resolved(tmp_path_factory.mktemp("filled-in"), settings)


def test_every_service_publishes_only_its_port_from_env_on_localhost(model, settings):
    published = {
        (name, port["target"]): (port["host_ip"], port["published"])
        for name, service in model["services"].items()
        for port in service.get("ports", [])
    }
    default_one_shots = ONE_SHOTS - {"clickhouse-cluster-tables"}  # that one is its profile's
    assert set(model["services"]) == {
        "mongo",
        "kafka",
        "clickhouse",
        "grafana",
        "postgres",
        *DAGSTER_SERVICES,
        *default_one_shots,
    }
    assert published == {
        ("mongo", 27017): ("127.0.0.1", settings["MONGO_PORT"]),
        ("kafka", 9094): ("127.0.0.1", settings["KAFKA_PORT"]),
        ("clickhouse", 8123): ("127.0.0.1", settings["CLICKHOUSE_HTTP_PORT"]),
        ("grafana", 3000): ("127.0.0.1", settings["GRAFANA_PORT"]),
        ("dagster-webserver", 3000): ("127.0.0.1", settings["DAGSTER_PORT"]),
    }


def test_the_dagster_services_get_each_backends_credentials_apart_from_its_url(model, settings):
    environment = model["services"]["user-code"]["environment"]
    assert all(model["services"][name]["environment"] == environment for name in DAGSTER_SERVICES)
    for backend in ("MONGO", "CLICKHOUSE"):
        assert environment[f"{backend}_USER"] == settings[f"{backend}_USER"]
        assert environment[f"{backend}_PASSWORD"] == settings[f"{backend}_PASSWORD"]
    assert environment["DAGSTER_POSTGRES_PASSWORD"] == settings["POSTGRES_PASSWORD"]
    assert environment["FERNET_KEY"] == settings["FERNET_KEY"]
    assert environment["PROBABLYFRESH_PROFILE"] == "docker"
    assert environment["TELEGRAM_BOT_TOKEN"] == ""  # optional: empty in .env.example, and accepted


def test_the_backends_get_their_own_passwords(model, settings):
    services = model["services"]
    assert services["mongo"]["environment"]["MONGO_INITDB_ROOT_PASSWORD"] == settings["MONGO_PASSWORD"]
    assert services["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] == settings["CLICKHOUSE_PASSWORD"]
    assert services["grafana"]["environment"]["CLICKHOUSE_PASSWORD"] == settings["CLICKHOUSE_PASSWORD"]
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == settings["GRAFANA_ADMIN_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == settings["POSTGRES_PASSWORD"]


def test_images_volumes_and_network_resolve_to_pinned_and_named_ones(model, settings):
    services = model["services"]
    dagster_image = f"probablyfresh/dagster:{settings['PROBABLYFRESH_IMAGE_TAG']}"
    assert all(PINNED_TAG.match(service["image"]) for service in services.values())
    assert {services[name]["image"] for name in DAGSTER_SERVICES} == {dagster_image}
    assert services["user-code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == dagster_image
    assert services["user-code"]["build"]["context"] == str(PROJECT_ROOT)
    assert {volume["name"] for volume in model["volumes"].values()} == {
        "probablyfresh_mongo-data",
        "probablyfresh_kafka-data",
        "probablyfresh_clickhouse-data",
        "probablyfresh_grafana-data",
        "probablyfresh_postgres-data",
        "probablyfresh_landing",
    }
    assert model["networks"]["probablyfresh"]["name"] == "probablyfresh"
    binds = {
        (name, mount["source"]): mount["target"]
        for name, service in services.items()
        for mount in service.get("volumes", [])
        if mount["type"] == "bind"
    }
    assert binds == {
        ("grafana", str(PROJECT_ROOT / "infra/grafana")): "/etc/probablyfresh/grafana",
        ("grafana", str(PROJECT_ROOT / "infra/grafana/dashboards")): "/var/lib/grafana/dashboards",
        ("clickhouse", str(PROJECT_ROOT / "infra/clickhouse")): "/opt/probablyfresh/clickhouse",
        ("clickhouse", str(PROJECT_ROOT / "infra/clickhouse/init-tables.sh")): "/docker-entrypoint-initdb.d/init-tables.sh",
        **{(name, "/var/run/docker.sock"): "/var/run/docker.sock" for name in ("dagster-webserver", "dagster-daemon")},
    }
    assert all(Path(source).exists() for name, source in binds if source.startswith(str(PROJECT_ROOT)))


# Compose's .env rules: a value in single quotes is taken as written; unquoted (or in double
# quotes) `$word` is a variable, here unset, so it is dropped. `#` after no space is kept.
@pytest.mark.parametrize(("written", "reaches_the_container"), [("'pa$word#1'", "pa$word#1"), ("pa$word#1", "pa#1")])
def test_a_dollar_in_a_password_is_kept_only_in_single_quotes(tmp_path, written, reaches_the_container):
    services = resolved(tmp_path, filled_in(POSTGRES_PASSWORD=written))["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == reaches_the_container
    assert services["user-code"]["environment"]["DAGSTER_POSTGRES_PASSWORD"] == reaches_the_container


def run_env_check(model: dict) -> subprocess.CompletedProcess:
    """The `env-check` service's command with its resolved environment, on this machine."""
    service = model["services"]["env-check"]
    command = [sys.executable if arg == "python" else arg for arg in service["command"]]
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env={"PATH": os.environ["PATH"], **service["environment"]},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_env_check_service_passes_strong_secrets(model):
    assert run_env_check(model).returncode == 0


@pytest.mark.parametrize("name", env_check.PASSWORDS)
def test_the_env_check_service_refuses_a_placeholder_compose_lets_through(tmp_path: Path, name: str):
    """`${VAR:?}` refuses only an empty value; every other service waits for this one (test_compose)."""
    result = run_env_check(resolved(tmp_path, filled_in(**{name: "change-me"})))
    assert (result.returncode, result.stderr) == (1, f"{name} is a placeholder; {env_check.FIX}\n")


def test_the_env_check_service_refuses_an_invalid_fernet_key(tmp_path: Path):
    result = run_env_check(resolved(tmp_path, filled_in(FERNET_KEY="not-a-key")))
    assert result.returncode == 1 and result.stderr.startswith("FERNET_KEY is not a Fernet key")
    assert "not-a-key" not in result.stderr


def test_kafkas_only_published_listener_takes_only_scram_users(model, settings):
    kafka = model["services"]["kafka"]
    environment = kafka["environment"]
    listeners = dict(re.findall(r"(\w+)://[\w.-]*:(\d+)", environment["KAFKA_LISTENERS"]))
    protocols = dict(pair.split(":") for pair in environment["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    ((published,),) = [[port["target"] for port in kafka["ports"]]]
    (host_listener,) = [name for name, port in listeners.items() if int(port) == published]
    assert (host_listener, protocols[host_listener]) == ("HOST", "SASL_PLAINTEXT")
    assert environment["KAFKA_LISTENER_NAME_HOST_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    # The stack's own services use the unpublished listener of the compose network, with no user.
    for name in DAGSTER_SERVICES:
        dagster_environment = model["services"][name]["environment"]
        assert dagster_environment["KAFKA_BOOTSTRAP_SERVERS"] == f"kafka:{listeners['PLAINTEXT']}"
        assert {"KAFKA_USER", "KAFKA_PASSWORD"} & set(dagster_environment) == set()
    user_service = model["services"]["kafka-user"]["environment"]
    assert (user_service["KAFKA_USER"], user_service["KAFKA_PASSWORD"]) == (settings["KAFKA_USER"], settings["KAFKA_PASSWORD"])
