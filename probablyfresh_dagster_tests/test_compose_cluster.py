"""The clickhouse-cluster compose profile, as Docker Compose v2.40.3's loader resolves it, against the
node config it mounts (infra/clickhouse/cluster/): 2 shards x 2 replicas whose services, macros,
remote_servers and Keeper agree, and the default profile left as it was."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from probablyfresh_dagster.settings import PROJECT_ROOT

from .compose import DAGSTER_SERVICES, PINNED_TAG, compose_model, filled_in, write_env_file

pytestmark = pytest.mark.servers

PROFILE = "clickhouse-cluster"
CLUSTER_CONFIG = PROJECT_ROOT / "infra/clickhouse/cluster"
NODE_CONFIG = "/etc/clickhouse-server/config.d/probablyfresh-cluster.xml"
STACK_DSN = "http://clickhouse-s1r1:8123/default"
TABLES = "clickhouse-cluster-tables"


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    return filled_in()


@pytest.fixture(scope="module")
def models(tmp_path_factory, settings) -> tuple[dict, dict]:
    """The model without the profile and with it."""
    folder = tmp_path_factory.mktemp("cluster-profile")
    env_file = write_env_file(folder / "env", settings)
    return compose_model(env_file, folder), compose_model(env_file, folder, (PROFILE,))


@pytest.fixture(scope="module")
def pointed(tmp_path_factory, settings) -> dict:
    """The model with the profile and .env pointing the Dagster services at it."""
    folder = tmp_path_factory.mktemp("cluster-pointed")
    on_cluster = settings | {"CLICKHOUSE_STACK_DSN": STACK_DSN, "CLICKHOUSE_CLUSTER": "probablyfresh"}
    return compose_model(write_env_file(folder / "env", on_cluster), folder, (PROFILE,))


@pytest.fixture(scope="module")
def server() -> ET.Element:
    return ET.parse(CLUSTER_CONFIG / "server.xml").getroot()


def nodes(model: dict) -> dict[str, dict]:
    return {name: s for name, s in model["services"].items() if name.startswith("clickhouse-s")}


def test_the_profile_adds_keeper_and_four_nodes_and_changes_nothing_else(models):
    default, cluster = models
    added = set(cluster["services"]) - set(default["services"])
    assert added == {
        TABLES,
        "clickhouse-keeper",
        "clickhouse-s1r1",
        "clickhouse-s1r2",
        "clickhouse-s2r1",
        "clickhouse-s2r2",
    }
    assert {name: cluster["services"][name] for name in default["services"]} == default["services"]
    assert all(PROFILE in cluster["services"][name]["profiles"] for name in added)


def test_two_shards_of_two_replicas_agree_with_remote_servers_and_macros(models, server):
    _, cluster = models
    shards = server.findall("remote_servers/probablyfresh/shard")
    layout = {
        replica.findtext("host"): number for number, shard in enumerate(shards, start=1) for replica in shard.findall("replica")
    }
    assert len(shards) == 2 and all(len(shard.findall("replica")) == 2 for shard in shards)
    assert all(shard.findtext("internal_replication") == "true" for shard in shards)
    macros = server.find("macros")
    assert macros is not None and macros.findtext("cluster") == "probablyfresh"
    shard_variable, replica_variable = (macros.find(name).get("from_env") for name in ("shard", "replica"))
    found = {
        name: int(service["environment"][shard_variable])
        for name, service in nodes(cluster).items()
        if service["environment"][replica_variable] == name
    }
    assert found == layout == {"clickhouse-s1r1": 1, "clickhouse-s1r2": 1, "clickhouse-s2r1": 2, "clickhouse-s2r2": 2}


def test_every_node_mounts_the_config_keeps_its_own_data_and_publishes_nothing(models, settings, server):
    _, cluster = models
    data = set()
    for service in nodes(cluster).values():
        assert service["image"] == cluster["services"]["clickhouse"]["image"] and PINNED_TAG.match(service["image"])
        mounts = {m["target"]: m for m in service["volumes"]}
        assert mounts[NODE_CONFIG]["source"] == str(CLUSTER_CONFIG / "server.xml") and mounts[NODE_CONFIG]["read_only"]
        data.add(mounts["/var/lib/clickhouse"]["source"])
        assert "ports" not in service
        assert service["environment"]["CLICKHOUSE_PASSWORD"] == settings["CLICKHOUSE_PASSWORD"]
        assert service["depends_on"]["clickhouse-keeper"]["condition"] == "service_healthy"
    assert len(data) == 4
    # The Distributed tables reach the other nodes as the user the image's entrypoint creates.
    credentials = {
        (user.get("from_env"), password.get("from_env"))
        for replica in server.findall("remote_servers/probablyfresh/shard/replica")
        if (user := replica.find("user")) is not None and (password := replica.find("password")) is not None
    }
    assert credentials == {("CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD")}


def test_the_nodes_reach_the_keeper_the_profile_runs(models, server):
    _, cluster = models
    keeper = ET.parse(CLUSTER_CONFIG / "keeper.xml").getroot()
    port = keeper.findtext("keeper_server/tcp_port")
    assert [(n.findtext("host"), n.findtext("port")) for n in server.findall("zookeeper/node")] == [("clickhouse-keeper", port)]
    assert keeper.findtext("keeper_server/raft_configuration/server/hostname") == "clickhouse-keeper"
    service = cluster["services"]["clickhouse-keeper"]
    assert service["entrypoint"] == ["clickhouse", "keeper", "--config-file=/etc/probablyfresh/keeper.xml"]
    assert {m["target"]: m["source"] for m in service["volumes"]}["/etc/probablyfresh/keeper.xml"] == str(
        CLUSTER_CONFIG / "keeper.xml"
    )


def test_the_tables_are_created_in_their_cluster_form_once_every_node_is_healthy(models, settings, server):
    _, cluster = models
    service = cluster["services"][TABLES]
    command = service["command"]
    assert command[:3] == ["python", "-m", "probablyfresh_dagster.cluster_ddl"]
    arguments = command[3:]
    assert arguments[arguments.index("--cluster") + 1] == server.find("remote_servers")[0].tag == "probablyfresh"
    assert "--apply" in arguments
    environment = service["environment"]
    assert environment["CLICKHOUSE_DSN"].removeprefix("http://").split(":")[0] in nodes(cluster)
    assert environment["CLICKHOUSE_PASSWORD"] == settings["CLICKHOUSE_PASSWORD"]
    assert service["depends_on"] == {name: {"condition": "service_healthy", "required": True} for name in nodes(cluster)}
    # The same command without `--apply` prints what it applies: every statement on that cluster.
    printed = subprocess.run(
        [sys.executable, *command[1:3], *(a for a in arguments if a != "--apply")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ddl = [statement for statement in printed.split(";\n\n") if statement.strip()]
    assert ddl and all(" ON CLUSTER probablyfresh" in statement for statement in ddl)


def test_the_dagster_services_follow_env_to_the_cluster_and_wait_for_its_tables(models, pointed):
    default, cluster = models
    for model, dsn, name in ((default, "http://clickhouse:8123/default", ""), (pointed, STACK_DSN, "probablyfresh")):
        for service in DAGSTER_SERVICES:
            environment = model["services"][service]["environment"]
            assert (environment["CLICKHOUSE_DSN"], environment["CLICKHOUSE_CLUSTER"]) == (dsn, name)
        # Grafana's dashboard reads the same server (its entrypoint takes the DSN's host).
        assert model["services"]["grafana"]["environment"]["CLICKHOUSE_DSN"] == dsn
        assert dsn.split("//")[1].split(":")[0] in model["services"]
    for model in (cluster, pointed):
        waits = model["services"]["user-code"]["depends_on"][TABLES]
        assert waits == {"condition": "service_completed_successfully", "required": False}
