"""The code location: every asset, check, sensor and job, on the profile's backends."""

import dagster as dg

from probablyfresh_dagster.alerts.sensor import alert_sensor
from probablyfresh_dagster.assets import all_assets
from probablyfresh_dagster.checks import standalone_checks
from probablyfresh_dagster.jobs import LOAD_JOBS, checks_job, load_job, pipeline_job, purge_pii_job
from probablyfresh_dagster.local_runs.bare_cli import advise_against_a_temporary_instance
from probablyfresh_dagster.private_files import owner_only_process
from probablyfresh_dagster.profiles import profile_resources
from probablyfresh_dagster.resources.clickhouse import CLICKHOUSE_STEP
from probablyfresh_dagster.sensors import SENSORS
from probablyfresh_dagster.settings import Settings

# An entry point too: `dagster dev|asset materialize -m probablyfresh_dagster.definitions`, code
# servers and run workers import this module first of the project's.
owner_only_process()
advise_against_a_temporary_instance()


# Dagster's multiprocess executor, tuned for steps that are short and mostly wait for ClickHouse:
# - each step still runs in its own process, but forked from a server that imported this code
#   location once per run, not a fresh interpreter importing Dagster, chDB and the project;
# - the ClickHouse steps of a run start one at a time, as the pool admits them anyway: a step
#   that waits for the pool polls it at intervals growing to 15 s, one kept back here does not
#   poll at all and claims the slot as soon as the step before it ends. The pool still keeps
#   two runs from opening chDB at once.
executor = dg.multiprocess_executor.configured(
    {
        "start_method": {"forkserver": {}},
        "tag_concurrency_limits": [{"key": key, "value": value, "limit": 1} for key, value in CLICKHOUSE_STEP.items()],
    }
)


def build_definitions(settings: Settings, **resources: dg.ConfigurableResource) -> dg.Definitions:
    """The code location on the profile's backends; `resources` replace those of the same name."""
    return dg.Definitions(
        assets=all_assets(),
        asset_checks=standalone_checks(),
        sensors=[*SENSORS, alert_sensor],
        jobs=[pipeline_job, load_job, checks_job, purge_pii_job, *LOAD_JOBS.values()],
        executor=executor,
        resources={**profile_resources(settings), **resources},
    )


defs = build_definitions(Settings.from_env())
