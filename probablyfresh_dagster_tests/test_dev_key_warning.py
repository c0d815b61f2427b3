"""The dev key's warning, once per run even when every step runs in a process of its own."""

import dagster as dg
import pytest

from .dev_key_steps import DEV_KEY_ENV, STEPS, publishers


@pytest.mark.slow
def test_the_dev_key_warning_is_logged_once_per_run_of_step_processes(tmp_path, monkeypatch):
    monkeypatch.setenv(DEV_KEY_ENV, str(tmp_path / "state" / "fernet.key"))
    with dg.instance_for_test() as instance:
        for verb in ("created", "using"):
            with dg.execute_job(dg.reconstructable(publishers), instance) as result:
                assert result.success
                steps = {event.step_key for event in result.all_events if event.is_step_success}
                assert len(steps) == STEPS
                warnings = [
                    entry.user_message
                    for entry in instance.all_logs(result.run_id)
                    if "FERNET_KEY is not set" in entry.user_message
                ]
                assert len(warnings) == 1 and f"FERNET_KEY is not set: {verb} the local dev key" in warnings[0]
