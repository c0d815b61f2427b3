"""`make run`: materialize every asset, run every check, print a summary; exit 1 if a check failed.

Runs the `pipeline` job in this process against the Dagster instance in `DAGSTER_HOME`, so the
runs, materializations and check results show up in `make dev` afterwards.
"""

import argparse
import sys
import time

import dagster as dg

from probablyfresh_dagster.definitions import build_definitions
from probablyfresh_dagster.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="generator seed (default: SEED env, then 42)")
    parser.add_argument("--purchases", type=int, help="purchases to generate (default 200)")
    args = parser.parse_args(argv)
    generator = {k: v for k, v in {"seed": args.seed, "purchases": args.purchases}.items() if v is not None}

    settings = Settings.from_env()
    job = build_definitions(settings).resolve_job_def("pipeline")
    started = time.monotonic()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        run_config={
            "ops": {"generated_json_files": {"config": generator}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        raise_on_error=False,
    )
    print_summary(result, time.monotonic() - started, settings)
    checks = result.get_asset_check_evaluations()
    return 0 if result.success and checks and all(c.passed for c in checks) else 1


def print_summary(result: dg.ExecuteInProcessResult, seconds: float, settings: Settings) -> None:
    marts = [
        (event.asset_key.to_user_string(), event.materialization.metadata.get("dagster/row_count"))
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string().endswith("_mart")
    ]
    print(f"\nProbablyFresh: {settings.profile} profile, run {result.run_id} in {seconds:.1f} s")
    for asset, rows in marts:
        print(f"  {asset:<22} {rows.value if rows else '?':>8} rows")
    print(f"\n  {'check':<48} result")
    for check in sorted(result.get_asset_check_evaluations(), key=lambda c: c.asset_check_key.to_user_string()):
        verdict = "passed" if check.passed else f"FAILED ({check.severity.value})"
        print(f"  {check.asset_check_key.to_user_string():<48} {verdict}")
        if not check.passed:
            for name, value in check.metadata.items():
                print(f"      {name}: {value.value}")
    if not result.success:
        print("\n  The run failed: see `make dev` (Runs) for the step that broke.")


if __name__ == "__main__":
    sys.exit(main())
