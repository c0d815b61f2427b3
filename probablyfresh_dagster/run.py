"""`make run`: materialize every asset, run every check, print a summary; exit 1 if a check failed.

`make check` (`--checks`) runs the checks alone on what the assets hold now (the `checks` job).
`make load` (`--load`) loads what is in data/ now, written by any program, generating nothing (the
`load` job: every asset but the generator's), and prints the same summary.
`make purge-pii` (`--purge-pii [ENTITY ...]`) runs the `purge_pii` job (see `purge_pii`).

With shards (`PROBABLYFRESH_SHARDS`), one run loads every shard, one after another in each step.
Runs the `pipeline` job in this process against the Dagster instance in `DAGSTER_HOME`, so the
runs, materializations and check results show up in `make dev` afterwards. While a step works, it
shows which one and how far it has got (see `progress_display`). Before and while it
runs, it fails the runs of that instance whose process is gone and frees their pool slots (see
`dead_runs`); while a step waits for a pool slot, it prints which run holds it (see `pool_waits`).
"""

import argparse
import sys
import time
from contextlib import AbstractContextManager, nullcontext

import dagster as dg

from probablyfresh_dagster.assets.sharding import every_shard
from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.entities import BY_NAME, ENTITIES, Stage
from probablyfresh_dagster.jobs import checks_job, load_job, pipeline_job, purge_pii_job
from probablyfresh_dagster.local_runs.dead_runs import failing_dead_runs
from probablyfresh_dagster.local_runs.launcher import LocalProcessRunLauncher
from probablyfresh_dagster.local_runs.pool_waits import pool_wait_logger
from probablyfresh_dagster.private_files import owner_only_process
from probablyfresh_dagster.progress_display import progress_display_logger
from probablyfresh_dagster.settings import Settings, load_env_file


def main(argv: list[str] | None = None) -> int:
    owner_only_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="generator seed (default: SEED env, then 42)")
    parser.add_argument("--purchases", type=int, help="purchases to generate (default 200)")
    parser.add_argument("--checks", action="store_true", help="only run the checks, materializing nothing")
    parser.add_argument("--load", action="store_true", help="load what is in data/ now, generating nothing")
    parser.add_argument(
        "--purge-pii",
        nargs="*",
        metavar="ENTITY",
        help="only remove clear-text phones and emails from these entities' topics and RAW (default: every entity)",
    )
    args = parser.parse_args(argv)
    load_env_file()
    if args.purge_pii is not None:
        if unknown := sorted(set(args.purge_pii) - set(BY_NAME)):
            parser.error(f"no such entity {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        return purge_pii(args.purge_pii or list(BY_NAME))
    generator = {k: v for k, v in {"seed": args.seed, "purchases": args.purchases}.items() if v is not None}
    if args.checks and generator:
        parser.error("--checks materializes nothing: --seed and --purchases do not apply")
    if args.load and (generator or args.checks):
        parser.error("--load generates nothing and materializes: --seed, --purchases and --checks do not apply")

    settings = Settings.from_env()
    instance = dg.DagsterInstance.get()
    loggers = dg.Definitions(
        loggers={
            "progress": progress_display_logger(),
            "console": dg.colored_console_logger,
            "pool_waits": pool_wait_logger(instance),
        }
    )
    definitions = dg.Definitions.merge(build_definitions(settings), loggers)
    job = definitions.resolve_job_def((checks_job if args.checks else load_job if args.load else pipeline_job).name)
    run_config = {"loggers": {"progress": {}, "console": {"config": {"log_level": "WARNING"}}, "pool_waits": {}}}
    if not (args.checks or args.load):
        run_config["ops"] = {"generated_json_files": {"config": generator}}
    started = time.monotonic()
    with watching_dead_runs(instance):
        result = job.execute_in_process(
            instance=instance, run_config=run_config, tags=every_shard(settings.shards), raise_on_error=False
        )
    print_summary(result, time.monotonic() - started, settings)
    checks = result.get_asset_check_evaluations()
    return 0 if result.success and checks and all(c.passed for c in checks) else 1


def purge_pii(entities: list[str]) -> int:
    """Run the `purge_pii` job in this process; print what it did, or why it refused."""
    job = build_definitions(Settings.from_env()).resolve_job_def(purge_pii_job.name)
    run_config = {"ops": {"purge_clear_pii": {"config": {"entities": entities}}}}
    with watching_dead_runs(instance := dg.DagsterInstance.get()):
        result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
    if not result.success:
        error = next(event for event in result.all_events if event.is_step_failure).step_failure_data.error
        assert error is not None  # Dagster records the error of every failure
        while error.cause is not None:
            error = error.cause
        print(f"make purge-pii: {error.message.strip()}", file=sys.stderr)
        return 1
    print("\n".join(result.output_for_node("purge_clear_pii")))
    return 0


def watching_dead_runs(instance: dg.DagsterInstance) -> AbstractContextManager[None]:
    """Fail dead runs before and during the run, if the instance's runs all run on this machine."""
    if not isinstance(instance.run_launcher, LocalProcessRunLauncher):
        return nullcontext()
    return failing_dead_runs(instance, "`make run`", lambda dead: print(dead.describe(), flush=True))


def print_summary(result: dg.ExecuteInProcessResult, seconds: float, settings: Settings) -> None:
    # Each MART asset reports `<table>_rows` for every table of its entity (purchases: two).
    materialized = {event.asset_key: event.materialization.metadata for event in result.get_asset_materialization_events()}
    tables = [
        (table, materialized[entity.asset_key(Stage.MART)][f"{table}_rows"].value)
        for entity in ENTITIES
        if entity.asset_key(Stage.MART) in materialized
        for table in entity.marts
    ]
    print(f"\nProbablyFresh: {settings.profile} profile, run {result.run_id} in {seconds:.1f} s")
    for table, rows in tables:
        print(f"  {table:<22} {rows:>8} rows")
    print(f"\n  {'check':<48} result")
    for check in sorted(result.get_asset_check_evaluations(), key=lambda c: c.asset_check_key.to_user_string()):
        verdict = "passed" if check.passed else f"FAILED ({check.severity.value})"
        print(f"  {check.asset_check_key.to_user_string():<48} {verdict}")
        print(f"      {check.description}")
    if not result.success:
        print("\n  The run failed: see `make dev` (Runs) for the step that broke.")
    print("\n  `make dev` shows this run, its assets and their checks in the Dagster UI.")


if __name__ == "__main__":
    sys.exit(main())
