"""Asset checks: the business rules the chain states, and the pipeline's own guarantees.

Most are judged in the step of the asset they check (`check_specs`, see `assets`); only a check
that reads several assets is its own step.
"""

import dagster as dg

from probablyfresh_dagster.checks.business import (
    BUSINESS_CHECKS,
    every_purchase_refers_to_known_entities,
    every_store_has_a_customer,
)
from probablyfresh_dagster.checks.mart_step import MartCheck
from probablyfresh_dagster.checks.pipeline import MART_PIPELINE_CHECKS
from probablyfresh_dagster.entities import Entity


def mart_checks(entity: Entity) -> tuple[MartCheck, ...]:
    """The checks judged in the entity's MART step, in the order it judges them."""
    return (*MART_PIPELINE_CHECKS, *BUSINESS_CHECKS.get(entity.name, ()))


def standalone_checks() -> list[dg.AssetChecksDefinition]:
    return [every_store_has_a_customer, every_purchase_refers_to_known_entities]
