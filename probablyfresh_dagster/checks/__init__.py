"""Asset checks: the business rules the chain states, and the pipeline's own guarantees.

Most are judged in the step of the asset they check (`check_specs`, see `assets`); only a check
that reads several assets is its own step.
"""

import dagster as dg

from probablyfresh_dagster.checks.business import every_purchase_refers_to_known_entities, every_store_has_a_customer

CHECKS_JOB = "checks"
"""The job of every check alone, which materializes nothing (`make check`)."""


def standalone_checks() -> list[dg.AssetChecksDefinition]:
    return [every_store_has_a_customer, every_purchase_refers_to_known_entities]
