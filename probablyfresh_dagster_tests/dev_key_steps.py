"""A job whose steps each set up the `fernet` resource on the local dev key, run by Dagster's
multiprocess executor: one process per step, as `make dev` runs a job (the key's path comes from
the environment, since each step process imports this module again)."""

from __future__ import annotations

import os

import dagster as dg

from probablyfresh_dagster.resources.fernet import FernetResource

DEV_KEY_ENV = "PROBABLYFRESH_TEST_DEV_KEY"
STEPS = 3


def _publisher(name: str) -> dg.OpDefinition:
    @dg.op(name=name)
    def publish(fernet: FernetResource) -> None:
        fernet.cipher()

    return publish


@dg.job(
    resource_defs={"fernet": FernetResource(dev_key_path=os.environ.get(DEV_KEY_ENV))},
    executor_def=dg.multiprocess_executor,
)
def publishers() -> None:
    for step in range(STEPS):
        _publisher(f"publish_{step}")()
