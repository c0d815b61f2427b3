"""On the kafka-cluster profile's three brokers (replication factor 3, `min.insync.replicas` 2), a
run that loses one broker (SIGKILL) while it publishes and another while RAW consumes finishes, or
its re-run does, with every check passed and every record once in RAW and the MARTs.

At most one broker is down at a time: the three are the KRaft quorum's voters as well, and two
dead voters of three leave no quorum (no leader can be elected, no partition moves), while two
dead replicas of three leave fewer in sync than `min.insync.replicas` (every write refused). So the
first broker is started again on its data, and every partition is back in sync, before the second
is killed: that is the failure the cluster is built to take, twice in one run.

The broker killed while publishing is the coordinator of the purchases' transactions, which the
commit has to reach: when it was only a partition's leader, it was the coordinator one run in three,
and those runs hung in kafka-python's commit (see `kafka_events.end_transaction`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.entities import PURCHASES as PURCHASES_ENTITY
from probablyfresh_dagster.outbox import transactional_id
from probablyfresh_dagster.transient import BUDGET_VARIABLE, DEFAULT_BUDGET_SECONDS

from .docker_profile import assert_delivered_exactly_once, broker_environment
from .gated_run import go, reached
from .kafka_cluster import Broker, Cluster
from .kafka_compose import cluster_services
from .processes import REACH_SECONDS, RERUN_SECONDS, make_run, start_make_run
from .servers import running
from .support import wait_for

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.xdist_group("kafka_cluster")]

PURCHASES = PURCHASES_ENTITY.name
"""The topic both gates are on: the largest, so a broker dies with most of the run's records at stake."""
GATES = ("kafka broker: mid-transaction, 120 purchases sent", "raw: purchases about to be consumed")
PUBLISHING, CONSUMING = range(len(GATES))
INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state")
FAILOVER_SECONDS = 60
"""A SIGKILLed broker's partitions get new leaders once the controller misses its heartbeats
(broker.session.timeout.ms, 9 s by default)."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("kafka-cluster")
    with running("kafka-cluster", workdir):
        yield Cluster(workdir)


@pytest.fixture(scope="module")
def replication(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int]:
    """The replication factor and `min.insync.replicas` the profile gives its brokers' topics,
    which the code location is to create its topics with."""
    environments = [service["environment"] for service in cluster_services(tmp_path_factory.mktemp("compose")).values()]
    ((factor, minimum),) = {(env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) for env in environments}
    return int(factor), int(minimum)


def test_a_run_losing_a_broker_while_publishing_and_another_while_raw_consumes_delivers_once(
    cluster: Cluster, replication: tuple[int, int], ferretdb_port: int, clean_run, tmp_path: Path
) -> None:
    factor, minimum = replication
    env = broker_environment(tmp_path, cluster.bootstrap_servers, ferretdb_port) | {
        "KAFKA_REPLICATION_FACTOR": str(factor),
        "KAFKA_MIN_INSYNC_REPLICAS": str(minimum),
        # What a step waits for a server to come back on the platform: a failover takes seconds.
        BUDGET_VARIABLE: f"{DEFAULT_BUDGET_SECONDS:g}",
    }
    gates, log = tmp_path / "gates", tmp_path / "run.log"
    gates.mkdir()
    started = time.monotonic()
    run = start_make_run(env, log, str(gates), *GATES, module="probablyfresh_dagster_tests.gated_run")
    try:
        publishing_victim = kill_at_gate(cluster, run, gates, PUBLISHING, log, spared=None)
        wait_for(
            lambda: all(p["leader_id"] not in (publishing_victim.node_id, -1) for p in cluster.partitions(PURCHASES)),
            FAILOVER_SECONDS,
            f"new leaders of {PURCHASES} after {publishing_victim.name} died",
        )
        restart = publishing_victim.start()
        # The publish waits for the dead coordinator (30 s at most) before its step is retried.
        wait_for(lambda: reached(gates, CONSUMING).exists() or run.poll() is not None, RERUN_SECONDS, "RAW to consume")
        restarted, _ = restart.communicate(timeout=REACH_SECONDS)
        assert restart.returncode == 0, restarted
        wait_for(
            lambda: cluster.fully_in_sync() and cluster.fully_in_sync(*INTERNAL_TOPICS), FAILOVER_SECONDS, "replicas in sync"
        )
        consuming_victim = kill_at_gate(cluster, run, gates, CONSUMING, log, spared=publishing_victim)
        exit_code = run.wait(timeout=RERUN_SECONDS)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    rerun = None if exit_code == 0 else make_run(env, tmp_path / "rerun.log")
    assert (exit_code if rerun is None else rerun) == 0, (tmp_path / ("run.log" if rerun is None else "rerun.log")).read_text()[
        -4000:
    ]
    elapsed = time.monotonic() - started

    figures = assert_delivered_exactly_once(tmp_path, env, clean_run)
    assert replicated(cluster, [entity.name for entity in ENTITIES]) == {
        entity.name: (factor, str(minimum)) for entity in ENTITIES
    }
    assert {topic: factor for topic in INTERNAL_TOPICS} == {
        topic: len(partition["replica_nodes"]) for topic in INTERNAL_TOPICS for partition in cluster.partitions(topic)
    }
    step_retries = log.read_text().count("went away during the step")
    print(
        f"killed {publishing_victim.name} publishing, {consuming_victim.name} consuming; run exit {exit_code},"
        f" re-run {'none' if rerun is None else rerun}, {step_retries} step retries, {elapsed:.1f} s; {figures}"
    )


def kill_at_gate(cluster: Cluster, run: subprocess.Popen, gates: Path, gate: int, log: Path, spared: Broker | None) -> Broker:
    """Once the run waits at `gate`, SIGKILL a broker (not `spared`), then let the run go on; the
    broker. While publishing, the purchases' transaction coordinator; else a broker leading a
    partition of the gate's topic."""
    wait_for(lambda: reached(gates, gate).exists() or run.poll() is not None, REACH_SECONDS, f"the run to reach {GATES[gate]!r}")
    assert reached(gates, gate).exists(), f"the run ended before {GATES[gate]!r}:\n{log.read_text()[-3000:]}"
    if gate == PUBLISHING:
        victim = cluster.broker(cluster.coordinator(transactional_id(PURCHASES_ENTITY)))
    else:
        leaders = [
            partition["leader_id"] for partition in sorted(cluster.partitions(PURCHASES), key=lambda p: p["partition_index"])
        ]
        victim = cluster.broker(next(leader for leader in leaders if spared is None or leader != spared.node_id))
    victim.kill()
    go(gates, gate).touch()
    return victim


def replicated(cluster: Cluster, topics: list[str]) -> dict[str, tuple[int, str]]:
    """Per topic: its replicas per partition (all partitions alike) and its `min.insync.replicas`."""
    configs = cluster.asked(
        lambda admin: admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics])
    )
    replicas = {topic: {len(p["replica_nodes"]) for p in cluster.partitions(topic)} for topic in topics}
    return {topic: (*replicas[topic], configs["topic"][topic]["min.insync.replicas"]["value"]) for topic in topics}
