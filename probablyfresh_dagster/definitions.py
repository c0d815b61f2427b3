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


# The executor of every run launched from the UI or a sensor, per profile.
# - local: every step in the run's own process, one after another, as `make run` executes them.
#   chDB lets one process at a time open the state's folder, so the ClickHouse steps ran one by
#   one anyway, and a process per step cost about 2 s each (starting it, opening chDB again), more
#   than most steps' work at the default size: "Materialize all" took 4x `make run`'s time, now
#   1x (README, Performance). The `clickhouse` pool still keeps two runs from opening chDB at
#   once, Terminate interrupts the step at work, and run monitoring watches the run's process.
# - docker: Dagster's multiprocess executor, steps forked from a server that imported this code
#   location once per run; the ClickHouse steps of a run start one at a time, as the pool admits
#   them anyway (a step kept back here does not poll the pool, whose intervals grow to 15 s).
EXECUTORS: dict[str, dg.ExecutorDefinition] = {
    "local": dg.in_process_executor,
    "docker": dg.multiprocess_executor.configured(
        {
            "start_method": {"forkserver": {}},
            "tag_concurrency_limits": [{"key": key, "value": value, "limit": 1} for key, value in CLICKHOUSE_STEP.items()],
        }
    ),
}


def build_definitions(settings: Settings, **resources: dg.ConfigurableResource) -> dg.Definitions:
    """The code location on the profile's backends; `resources` replace those of the same name."""
    return dg.Definitions(
        assets=all_assets(settings.shards),
        asset_checks=standalone_checks(),
        sensors=[*SENSORS, alert_sensor],
        jobs=[pipeline_job, load_job, checks_job, purge_pii_job, *LOAD_JOBS.values()],
        executor=EXECUTORS[settings.profile],
        resources={**profile_resources(settings), **resources},
    )


defs = build_definitions(Settings.from_env())
