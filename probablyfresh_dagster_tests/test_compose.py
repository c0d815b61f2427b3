"""The docker-compose deployment, checked without Docker: the compose file, `.env.example`,
the Dagster instance and workspace files, and how they fit together."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster
import docker
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.workspace.config_schema import ensure_workspace_config
from dagster_docker.docker_run_launcher import DOCKER_CONTAINER_ID_TAG
from dagster_docker.utils import DOCKER_CONFIG_SCHEMA

from probablyfresh_dagster.settings import PROJECT_ROOT, load_env_file

from .compose import DAGSTER_SERVICES, ONE_SHOTS, PINNED_TAG, env_example
from .stack_scripts import env_check

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
INSTANCE = yaml.safe_load((PROJECT_ROOT / "infra/dagster/dagster.yaml").read_text(encoding="utf-8"))
# `${VAR}` / `$VAR` read by compose; `$$VAR` is left to the container's shell.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{?([A-Z_][A-Z0-9_]*)")
# A whole `${VAR}`, or `${VAR:?message}`: compose refuses to start while VAR is unset or empty.
FROM_ENV = r"\$\{[A-Z_]+(?::\?[^}]+)?\}"
REQUIRED_FROM_ENV = re.compile(r"\$\{([A-Z_]+):\?[^}]+\}")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|FERNET_KEY")
# With no bot token nothing is sent to Telegram; every other secret is required.
OPTIONAL_SECRETS = {"TELEGRAM_BOT_TOKEN"}
COMPLETED = {"condition": "service_completed_successfully"}
KAFKA_CLUSTER = ("kafka-1", "kafka-2", "kafka-3")


def test_every_service_has_a_health_check_that_runs_a_command():
    for name, service in SERVICES.items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no" and "healthcheck" not in service, name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name


def test_every_image_is_pinned_to_an_exact_version():
    for name, service in SERVICES.items():
        image = service["image"].replace("${PROBABLYFRESH_IMAGE_TAG}", env_example()["PROBABLYFRESH_IMAGE_TAG"])
        assert PINNED_TAG.match(image), f"{name}: {image}"
    assert {SERVICES[name]["build"]["dockerfile"] for name in DAGSTER_SERVICES} == {"infra/dagster/Dockerfile"}


def test_depends_on_waits_for_healthy_services_or_completed_one_shots_that_exist():
    """A service of a profile is waited for only when its profile runs (`required: false`)."""
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, name
            expected = COMPLETED if dependency in ONE_SHOTS else {"condition": "service_healthy"}
            if "profiles" in SERVICES[dependency] and "profiles" not in service:
                expected = expected | {"required": False}
            assert condition == expected, f"{name} -> {dependency}"
    assert set(SERVICES["user-code"]["depends_on"]) == {
        "postgres",
        "mongo",
        "kafka",
        *KAFKA_CLUSTER,
        "kafka-user",
        "clickhouse",
        "clickhouse-cluster-tables",
    }


def waits_for(name: str) -> set[str]:
    """Every service `name` waits for, directly or through those it waits for."""
    direct = set(SERVICES[name].get("depends_on", {}))
    return direct.union(*(waits_for(dependency) for dependency in direct))


def test_no_service_starts_before_the_secrets_passed_env_check():
    """So no volume is initialized with a weak password: the backends wait for it themselves."""
    assert "depends_on" not in SERVICES["env-check"]
    for name in set(SERVICES) - {"env-check"}:
        assert "env-check" in waits_for(name), name
    for backend in ("mongo", "kafka", "clickhouse", "postgres", "grafana"):
        assert SERVICES[backend]["depends_on"]["env-check"] == COMPLETED, backend


def test_env_check_runs_the_make_up_check_on_every_secret_and_nothing_else():
    check = SERVICES["env-check"]
    assert check["command"] == ["python", "infra/stack/env_check.py"]
    assert set(check["environment"]) == {*env_check.PASSWORDS, env_check.FERNET_KEY}
    assert all(re.fullmatch(FROM_ENV, value) for value in check["environment"].values())
    assert check["network_mode"] == "none" and "ports" not in check and "volumes" not in check


def test_one_network_and_named_volumes_only():
    assert list(COMPOSE["networks"]) == ["probablyfresh"]
    for name, service in SERVICES.items():
        assert service.get("networks") == (None if name == "env-check" else ["probablyfresh"]), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in COMPOSE["volumes"] or source.startswith(("./", "/var/run/docker.sock")), volume


def test_no_secret_is_written_inline():
    def environments():
        for service in SERVICES.values():
            yield from service.get("environment", {}).items()

    for key, value in environments():
        value = str(value)
        if SECRET_NAME.search(key):
            assert re.fullmatch(FROM_ENV, value), f"{key} must come from .env"
        # Credentials go apart from URLs: a password in a URL would need percent-encoding.
        assert not ("://" in value and "@" in value), f"{key}: credentials in a URL"
    example = env_example()
    assert {k for k in example if "PASSWORD" in k} == set(env_check.PASSWORDS)
    assert {v for k, v in example.items() if SECRET_NAME.search(k)} == {""}  # `make secrets` fills them


def strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*strings(key), *strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def test_every_place_that_reads_the_fernet_key_or_a_password_requires_it():
    texts = strings(COMPOSE)
    read = [name for text in texts for name in COMPOSE_VARIABLE.findall(text)]
    required = {name for name in read if SECRET_NAME.search(name)} - OPTIONAL_SECRETS
    assert required == {
        "FERNET_KEY",
        "MONGO_PASSWORD",
        "CLICKHOUSE_PASSWORD",
        "POSTGRES_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "KAFKA_PASSWORD",
    }
    read_as_required = [name for text in texts for name in REQUIRED_FROM_ENV.findall(text) if name in required]
    assert sorted(name for name in read if name in required) == sorted(read_as_required)


def test_every_variable_compose_reads_is_documented_in_env_example():
    used = {name for text in strings(COMPOSE) for name in COMPOSE_VARIABLE.findall(text)}
    assert used, "the compose file reads its settings from .env"
    assert used - set(env_example()) == set()


def test_ports_come_from_env_and_bind_to_localhost():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert re.fullmatch(r"127\.0\.0\.1:\$\{[A-Z][A-Z0-9_]*\}:\d+", port), f"{name}: {port}"


def test_dagster_services_run_the_code_location_on_the_docker_profile():
    user_code = SERVICES["user-code"]
    environment = user_code["environment"]
    assert environment["PROBABLYFRESH_PROFILE"] == "docker"
    for variable in (
        "MONGO_URL",
        "MONGO_USER",
        "MONGO_PASSWORD",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_PARTITIONS",
        "CLICKHOUSE_DSN",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "FERNET_KEY",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_CHAT_ID",
    ):
        assert variable in environment, variable
    # The one-node ClickHouse unless .env names a node of the clickhouse-cluster profile (and the cluster).
    assert environment["CLICKHOUSE_DSN"] == "${CLICKHOUSE_STACK_DSN:-http://clickhouse:8123/default}"
    assert environment["CLICKHOUSE_CLUSTER"] == "${CLICKHOUSE_CLUSTER:-}"
    assert environment["MONGO_URL"] == "mongodb://mongo:27017/?authSource=admin"
    # The one-node broker unless .env names the kafka-cluster profile's brokers.
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "${KAFKA_STACK_SERVERS:-kafka:9092}"
    assert "grpc" in user_code["command"] and "probablyfresh_dagster.definitions" in user_code["command"]
    assert "grpc-health-check" in user_code["healthcheck"]["test"]


def test_only_the_services_whose_run_launcher_stops_or_starts_containers_reach_the_docker_socket():
    """The daemon launches runs; the webserver only stops them (`terminate_needs_the_socket_below`)."""
    with_socket = {
        name
        for name, service in SERVICES.items()
        if any(volume.startswith("/var/run/docker.sock:") for volume in service.get("volumes", []))
    }
    assert with_socket == {"dagster-webserver", "dagster-daemon"}


def test_terminating_a_started_run_from_the_webserver_needs_the_docker_socket(tmp_path: Path):
    """What the webserver does on "Terminate": QueuedRunCoordinator.cancel_run hands a started run
    to DockerRunLauncher.terminate, which asks Docker for its container (a queued run is only
    marked canceled). With no Docker there, the run is left canceling and nothing stops its
    container."""
    instance_config = {**INSTANCE, "storage": {"sqlite": {"base_dir": str(tmp_path)}}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance_config), encoding="utf-8")
    with dagster.DagsterInstance.from_config(str(tmp_path)) as instance:
        # As DockerRunLauncher leaves a run it started: tagged with its container.
        started = instance.create_run_for_job(
            dagster.JobDefinition(graph_def=dagster.GraphDefinition("g")),
            status=dagster.DagsterRunStatus.STARTED,
            tags={DOCKER_CONTAINER_ID_TAG: "0123456789ab"},
        )
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
            with pytest.raises(docker.errors.DockerException):
                instance.run_coordinator.cancel_run(started.run_id)
        left = instance.get_run_by_id(started.run_id)
        assert left is not None and left.status == dagster.DagsterRunStatus.CANCELING


def test_grafana_preinstalls_the_clickhouse_plugin_and_provisions_through_its_entrypoint():
    """test_grafana runs the entrypoint and checks what it provisions; here, that it is the one
    that sets the provisioning folder."""
    grafana = SERVICES["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    assert "GF_INSTALL_PLUGINS" not in grafana["environment"]
    assert "GF_PATHS_PROVISIONING" not in grafana["environment"]
    assert grafana["entrypoint"] == ["/bin/sh", "/etc/probablyfresh/grafana/entrypoint.sh"]
    assert "./infra/grafana:/etc/probablyfresh/grafana:ro" in grafana["volumes"]
    assert "./infra/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]


def test_dagster_yaml_loads_with_dagsters_own_validation(tmp_path: Path):
    shutil.copy(PROJECT_ROOT / "infra/dagster/dagster.yaml", tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert set(config["storage"]["postgres"]["postgres_db"]["password"]) == {"env"}
    assert config["concurrency"]["pools"]["default_limit"] == 1

    coordinator = config["run_coordinator"]
    assert (coordinator["module"], coordinator["class"]) == ("dagster.core.run_coordinator", "QueuedRunCoordinator")
    assert validate_config(QueuedRunCoordinator.config_type(), coordinator.get("config", {})).success
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 4

    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    assert validate_config(DOCKER_CONFIG_SCHEMA, launcher["config"]).success


def test_run_containers_get_the_network_volume_and_variables_compose_defines():
    launcher = INSTANCE["run_launcher"]["config"]
    assert launcher["network"] == COMPOSE["networks"]["probablyfresh"]["name"]
    (volume,) = launcher["container_kwargs"]["volumes"]
    name, mount = volume.split(":")
    assert name == COMPOSE["volumes"]["landing"]["name"]
    assert f"landing:{mount}" in SERVICES["user-code"]["volumes"]
    daemon_environment = SERVICES["dagster-daemon"]["environment"]
    # A run builds its resources from the same variables as the code location (a broker list, a
    # replication factor, a cluster name): it is given every one of them, and none other.
    assert sorted(launcher["env_vars"]) == sorted(COMPOSE["x-dagster-env"]) == sorted(daemon_environment)
    assert daemon_environment["PROBABLYFRESH_DATA"] == mount


def test_the_compose_workspace_points_at_the_user_code_grpc_server():
    path = PROJECT_ROOT / "infra/dagster/workspace.yaml"
    workspace = ensure_workspace_config(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    ((kind, target),) = workspace["load_from"][0].items()
    assert kind == "grpc_server" and target["host"] in SERVICES
    command = SERVICES[target["host"]]["command"]
    assert command[command.index("--port") + 1] == str(target["port"])
    for name in ("dagster-webserver", "dagster-daemon"):
        assert "/opt/dagster/dagster_home/workspace.yaml" in SERVICES[name]["command"]


def test_the_local_workspace_loads_the_code_location(tmp_path: Path):
    path = PROJECT_ROOT / "workspace.yaml"
    ensure_workspace_config(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    environment = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PROBABLYFRESH_PROFILE": "local"}
    (tmp_path / "dagster.yaml").write_text("")
    result = subprocess.run(
        [Path(sys.executable).with_name("dagster"), "definitions", "validate", "-w", str(path)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location probablyfresh" in result.stdout + result.stderr


def test_the_dockerfile_installs_the_project_with_its_sql():
    dockerfile = (PROJECT_ROOT / "infra/dagster/Dockerfile").read_text(encoding="utf-8")
    assert "COPY infra ./infra" in dockerfile
    assert 'cp infra/dagster/dagster.yaml infra/dagster/workspace.yaml "$DAGSTER_HOME"/' in dockerfile


# ---- .env reaches each reader as written ----

ENV_FILE = "FERNET_KEY=not-a-key\nPOSTGRES_PASSWORD='pa$word#1'\n"


def test_make_run_reads_env_values_as_written_without_overriding_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / ".env").write_text(ENV_FILE)
    monkeypatch.setenv("POSTGRES_PASSWORD", "")  # recorded, so what load_env_file sets is undone after the test
    monkeypatch.delenv("POSTGRES_PASSWORD")
    monkeypatch.setenv("FERNET_KEY", "from-the-environment")
    load_env_file(tmp_path / ".env")
    assert os.environ["POSTGRES_PASSWORD"] == "pa$word#1"
    assert os.environ["FERNET_KEY"] == "from-the-environment"
