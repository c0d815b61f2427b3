"""The kafka-cluster profile's brokers as infra/testservers/start-kafka-cluster.sh runs them: each
one killed (SIGKILL, its process group) and started again on its data on its own, and what the
cluster says of its partitions' leaders and replicas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from .servers import SCRIPTS
from .support import wait_for

STOP_SECONDS = 30
ANSWER_SECONDS = 60
"""How long the cluster may take to answer an admin request: a broker just killed still figures in
its metadata (as a partition's leader, the controller) until the controller notices."""
T = TypeVar("T")


@dataclass(frozen=True)
class Broker:
    folder: Path
    """Its folder in the cluster's (start-kafka.sh's WORKDIR: kafka.env, pid, port, data)."""

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def node_id(self) -> int:
        return int(self.environment()["KAFKA_NODE_ID"])

    def environment(self) -> dict[str, str]:
        lines = (self.folder / "kafka.env").read_text(encoding="utf-8").splitlines()
        return dict(line.split("=", 1) for line in lines)

    def alive(self) -> bool:
        try:
            os.killpg(int((self.folder / "pid").read_text()), 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL its process group, as a power cut would; return once it is gone."""
        os.killpg(int((self.folder / "pid").read_text()), signal.SIGKILL)
        wait_for(lambda: not self.alive(), STOP_SECONDS, f"{self.name} to die")

    def start(self) -> subprocess.Popen:
        """Start it again on its data (start-kafka.sh, ended once it serves clients)."""
        return subprocess.Popen(
            [SCRIPTS / "start-kafka.sh", self.folder],
            env=os.environ | {"TESTSERVERS_PYTHON": sys.executable},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@dataclass(frozen=True)
class Cluster:
    folder: Path

    @property
    def bootstrap_servers(self) -> str:
        return (self.folder / "bootstrap").read_text(encoding="utf-8")

    @property
    def brokers(self) -> list[Broker]:
        return sorted((Broker(env.parent) for env in self.folder.glob("*/kafka.env")), key=lambda broker: broker.node_id)

    def broker(self, node_id: int) -> Broker:
        (found,) = [broker for broker in self.brokers if broker.node_id == node_id]
        return found

    def asked(self, question: Callable[[KafkaAdminClient], T]) -> T:
        """`question(admin)`, through the brokers alive, asked again while the cluster answers
        that a broker is unreachable (a retriable error)."""

        def attempt() -> list[T]:
            live = [f"127.0.0.1:{(broker.folder / 'port').read_text()}" for broker in self.brokers if broker.alive()]
            try:
                admin = KafkaAdminClient(bootstrap_servers=live)
                try:
                    return [question(admin)]
                finally:
                    admin.close()
            except KafkaError as error:
                if not error.retriable:
                    raise
                return []

        return wait_for(attempt, ANSWER_SECONDS, "the cluster to answer")[0]

    def partitions(self, *topics: str) -> list[dict]:
        """Each partition of `topics` (every topic when none) as the cluster describes it: its
        topic, index, leader, replicas and in-sync replicas."""
        described = self.asked(lambda admin: admin.describe_topics(list(topics) or None))
        return [{"topic": topic["name"], **partition} for topic in described for partition in topic["partitions"]]

    def coordinator(self, transactional_id: str) -> int:
        """The broker coordinating `transactional_id`'s transactions."""
        return self.asked(lambda admin: admin.describe_transactions([transactional_id])[transactional_id].coordinator_id)

    def fully_in_sync(self, *topics: str) -> bool:
        """Whether every partition of `topics` (of every topic) has each of its replicas in sync."""
        return all(sorted(p["isr_nodes"]) == sorted(p["replica_nodes"]) for p in self.partitions(*topics))
