"""The docker-compose stack's processes, natively (see stack.py): PostgreSQL from Debian's package,
Kafka and FerretDB (for MongoDB) configured as compose configures their containers, and the
Dagster code server, webserver and daemon with infra/dagster/dagster.yaml. A run of `pipeline`
submitted through the webserver's GraphQL API is queued, launched by the daemon and succeeds,
with its asset checks in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import dagster as dg
import psycopg2
import pytest
from dagster_graphql import DagsterGraphQLClient

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.settings import Settings

from .compose import compose_model, filled_in, write_env_file
from .servers import running
from .stack import dagster_services
from .support import wait_for

pytestmark = [pytest.mark.servers, pytest.mark.slow]
RUN_TIMEOUT_S = 600
# Passwords as a generator may make them: each reaches its server and its clients as written.
URL_SPECIAL = "p@ss/w:rd?#%+$1-and-long-enough"


@dataclass
class Stack:
    webserver_port: int
    postgres: dict[str, str | int]  # psycopg2.connect's keywords


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    env_file = write_env_file(
        root / ".env", filled_in(**{name: f"'{URL_SPECIAL}'" for name in ("MONGO_PASSWORD", "POSTGRES_PASSWORD")})
    )
    services = compose_model(env_file, root)["services"]
    postgres_env = services["postgres"]["environment"]
    mongo_env = services["mongo"]["environment"]
    with ExitStack() as started:
        ports = {
            "postgres": started.enter_context(running("postgres", root / "postgres", postgres_env)),
            "kafka": started.enter_context(running("kafka", root / "kafka")),
            # The mongo image creates its root user from MONGO_INITDB_ROOT_*; FerretDB's setup user.
            "mongo": started.enter_context(
                running(
                    "ferretdb",
                    root / "ferretdb",
                    {
                        "FERRETDB_TEST_ENABLE_NEW_AUTH": "true",
                        "FERRETDB_SETUP_DATABASE": "admin",
                        "FERRETDB_SETUP_USERNAME": mongo_env["MONGO_INITDB_ROOT_USERNAME"],
                        "FERRETDB_SETUP_PASSWORD": mongo_env["MONGO_INITDB_ROOT_PASSWORD"],
                    },
                )
            ),
        }
        web_port = started.enter_context(dagster_services(services, root, ports))
        yield Stack(
            web_port,
            {
                "host": "127.0.0.1",
                "port": ports["postgres"],
                "user": postgres_env["POSTGRES_USER"],
                "password": postgres_env["POSTGRES_PASSWORD"],
                "dbname": postgres_env["POSTGRES_DB"],
            },
        )


def test_a_pipeline_run_submitted_through_graphql_is_queued_launched_by_the_daemon_and_passes_its_checks(stack):
    client = DagsterGraphQLClient("127.0.0.1", port_number=stack.webserver_port)
    # With the code location's own executor, as the UI launches it.
    run_id = client.submit_job_execution("pipeline")
    status = wait_for(
        lambda: (s := client.get_run_status(run_id)) in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) and s,
        RUN_TIMEOUT_S,
        f"run {run_id} to end",
    )
    with psycopg2.connect(**stack.postgres) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT dagster_event_type FROM event_logs WHERE run_id = %s AND dagster_event_type LIKE 'PIPELINE_%%' ORDER BY id",
            (run_id,),
        )
        lifecycle = [event for (event,) in cursor.fetchall()]
        cursor.execute("SELECT asset_key, check_name, execution_status FROM asset_check_executions WHERE run_id = %s", (run_id,))
        checks = cursor.fetchall()
    assert status == dg.DagsterRunStatus.SUCCESS, lifecycle
    # Only the daemon takes a run off the queue of a QueuedRunCoordinator and hands it to the launcher.
    assert lifecycle == ["PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_START", "PIPELINE_SUCCESS"]
    expected = build_definitions(Settings()).resolve_asset_graph().asset_check_keys
    assert {(dg.AssetKey.from_db_string(key), name) for key, name, _ in checks} == {(k.asset_key, k.name) for k in expected}
    assert {status for _, _, status in checks} == {"SUCCEEDED"}
