"""docker-compose.yml resolved by the real Docker Compose v2 with .env.example: the refusals, the
ports, the credentials, the images, volumes and network (see compose.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.settings import PROJECT_ROOT

from .compose import compose_config, compose_model
from .test_compose import DAGSTER_SERVICES, PINNED_TAG, env_example

pytestmark = pytest.mark.servers

REQUIRED = ("FERNET_KEY", "MONGO_PASSWORD", "CLICKHOUSE_PASSWORD", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD")
HOW_TO_FIX = "set it in .env, see .env.example"

Config = Callable[[Path], subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Config:
    home = tmp_path_factory.mktemp("compose-home")
    return lambda env_file: compose_config(env_file, home)


def filled_in(**settings: str) -> dict[str, str]:
    """.env.example with a Fernet key and a distinct value for each password, then `settings`."""
    passwords = {name: f"{name.lower()}-value" for name in REQUIRED if name.endswith("_PASSWORD")}
    return {**env_example(), "FERNET_KEY": Fernet.generate_key().decode(), **passwords, **settings}


def env_file(folder: Path, settings: dict[str, str]) -> Path:
    path = folder / "env"
    path.write_text("".join(f"{name}={value}\n" for name, value in settings.items()), encoding="utf-8")
    return path


def resolved(folder: Path, settings: dict[str, str]) -> dict:
    return compose_model(env_file(folder, settings), folder)


def test_env_example_as_shipped_is_refused_for_its_empty_fernet_key(config):
    result = config(PROJECT_ROOT / ".env.example")
    assert result.returncode != 0 and result.stdout == ""
    assert f"required variable FERNET_KEY is missing a value: {HOW_TO_FIX}" in result.stderr


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
        for name, service in model["services"].items() for port in service.get("ports", [])
    }
    assert set(model["services"]) == {"mongo", "kafka", "clickhouse", "grafana", "postgres", *DAGSTER_SERVICES}
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
        "probablyfresh_mongo-data", "probablyfresh_kafka-data", "probablyfresh_clickhouse-data",
        "probablyfresh_grafana-data", "probablyfresh_postgres-data", "probablyfresh_landing"}
    assert model["networks"]["probablyfresh"]["name"] == "probablyfresh"
    binds = {(name, mount["source"]): mount["target"] for name, service in services.items()
             for mount in service.get("volumes", []) if mount["type"] == "bind"}
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
