"""Test-only: a ClickHouse client that never answers, in every Python process of a test's run.

A test puts this folder on PYTHONPATH and sets PROBABLYFRESH_TEST_STUCK_CLICKHOUSE to a marker
path. Python imports `sitecustomize` at start, so `make run`, or every process `make dev` starts
(code server, run worker, step processes), gets a `ClickHouseResource.client` that writes its pid
to the marker and then sleeps for good, deaf to SIGINT and SIGTERM: the step holds the
`clickhouse` pool slot until the test kills it. With PROBABLYFRESH_TEST_STUCK_CLICKHOUSE_HEARS set,
the client hears them: the step waits until its run is terminated.
"""

import os

MARKER = os.environ.get("PROBABLYFRESH_TEST_STUCK_CLICKHOUSE")
HEARS = bool(os.environ.get("PROBABLYFRESH_TEST_STUCK_CLICKHOUSE_HEARS"))

if MARKER:
    import signal
    import time
    from contextlib import contextmanager
    from pathlib import Path

    from probablyfresh_dagster.resources.clickhouse import ClickHouseResource

    @contextmanager
    def stuck_client(self, wait_seconds=None):
        if not HEARS:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        Path(MARKER).write_text(str(os.getpid()))
        while True:
            time.sleep(60)
        yield

    ClickHouseResource.client = stuck_client  # type: ignore[method-assign]  # replaced on purpose: every client hangs
