"""Asset checks: the business rules the chain states, and the pipeline's own guarantees."""

import dagster as dg

from probablyfresh_dagster.checks.business import BUSINESS_CHECKS
from probablyfresh_dagster.checks.pipeline import entity_checks
from probablyfresh_dagster.entities import ENTITIES


def all_checks() -> list[dg.AssetChecksDefinition]:
    return [*BUSINESS_CHECKS, *(c for entity in ENTITIES for c in entity_checks(entity))]
