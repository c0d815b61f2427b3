"""A run killed mid-publish on a real Kafka broker (with FerretDB for MongoDB) is finished by the
next one exactly once: the same assertions as `test_crashes`, on the docker profile's clients.

The cases share one broker (a start takes 10-25 s), emptied before each: topics are named after
the entities. Each case gets a fresh database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient

from .crashing_run import BROKER_POINTS
from .docker_profile import assert_delivered_exactly_once, broker_environment
from .processes import kill_at, make_run
from .servers import running
from .support import wait_for

# One worker runs the cases, so that they share its broker.
pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.xdist_group("broker_crashes")]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running("kafka", tmp_path_factory.mktemp("kafka")) as port:
        yield port


def emptied(kafka_port: int) -> int:
    """The broker without the topics and the consumer groups' offsets an earlier case left: as
    new to the pipeline as a broker of its own."""
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{kafka_port}")
    try:
        if topics := _topics(admin):
            admin.delete_topics(topics)
        if groups := [group["group_id"] for group in admin.list_groups()]:
            admin.delete_groups(groups)
        wait_for(lambda: not _topics(admin), 60, "the earlier case's topics to be deleted")
    finally:
        admin.close()
    return kafka_port


def _topics(admin: KafkaAdminClient) -> list[str]:
    return [topic for topic in admin.list_topics() if not topic.startswith("__")]


@pytest.mark.parametrize("point", list(BROKER_POINTS))
def test_a_run_killed_mid_publish_on_a_broker_is_finished_exactly_once(
    point,
    tmp_path,
    broker,
    ferretdb_port,
    clean_run,
) -> None:
    env = broker_environment(tmp_path, f"127.0.0.1:{emptied(broker)}", ferretdb_port)
    kill_at(point, env, tmp_path)
    started = time.monotonic()
    rerun = make_run(env, tmp_path / "rerun.log")
    assert rerun == 0, (tmp_path / "rerun.log").read_text()[-4000:]
    print(f"{point}: re-run in {time.monotonic() - started:.1f} s")
    assert_delivered_exactly_once(tmp_path, env, clean_run)
