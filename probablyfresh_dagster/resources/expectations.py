"""What the business checks expect of the data: one resource, the source documents' figures by default.

Set it for every run from the environment (`PROBABLYFRESH_EXPECTATIONS`, a JSON object of any of
the fields below), or for one run in the launchpad (`resources: expectations: config:`).
"""

from __future__ import annotations

import json
import os

import dagster as dg
from pydantic import Field, field_validator

from probablyfresh_dagster.entities import BY_NAME, ENTITIES, Entity
from probablyfresh_dagster.pii import PiiFields

EXPECTATIONS_ENV = "PROBABLYFRESH_EXPECTATIONS"
SOURCE_CATEGORIES = [
    "🥖 Зерновые и хлебобулочные изделия",
    "🥩 Мясо, рыба, яйца и бобовые",
    "🥛 Молочные продукты",
    "🍏 Фрукты и ягоды",
    "🥦 Овощи и зелень",
]
"""The source documents' five categories, which the generator writes too (not imported from it:
the generator imports the landing, which imports this package)."""


class Expectations(dg.ConfigurableResource):
    store_networks: dict[str, int] = Field(
        default={"Almost": 30, "Maybe": 15},
        description="Store count per network (`store_network`, compared case-insensitively).",
    )
    product_categories: list[str] = Field(
        default=SOURCE_CATEGORIES,
        description="The product categories (`group`, compared case-insensitively).",
    )
    products_per_category: int = Field(default=20, ge=0)
    customers_per_store: int = Field(default=1, ge=0, description="Customers each store has at least.")
    min_purchases: int = Field(default=200, ge=0)
    duplicate_threshold_percent: float = Field(
        default=50.0,
        ge=0,
        le=100,
        description="The share of RAW rows repeating a key above which `duplicate_share` fails (and alerts).",
    )
    pii_fields: dict[str, list[str]] = Field(
        default={entity.name: list(entity.pii) for entity in ENTITIES},
        description=(
            "Per entity, the dotted paths of the fields holding a phone or an email (`contacts[].phone`: "
            "each element of an array), normalized and encrypted before Kafka; a phone or email anywhere "
            "else sets its record aside. An entity left out keeps the source documents' fields."
        ),
    )

    @field_validator("pii_fields")
    @classmethod
    def _known_entities_and_paths(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if unknown := sorted(set(value) - set(BY_NAME)):
            raise ValueError(f"pii_fields: no such entity {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        for paths in value.values():
            PiiFields.parse(paths)
        return value

    def personal_fields(self, entity: Entity) -> PiiFields:
        return PiiFields.parse(self.pii_fields.get(entity.name, entity.pii))

    def networks(self) -> dict[str, int]:
        """`store_networks` keyed as the MART stores them: lower case."""
        return {name.lower(): count for name, count in self.store_networks.items()}

    def categories(self) -> list[str]:
        return [name.lower() for name in self.product_categories]


def expectations_from_env() -> Expectations:
    raw = os.environ.get(EXPECTATIONS_ENV, "").strip()
    if not raw:
        return Expectations()
    try:
        fields = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"{EXPECTATIONS_ENV} must be a JSON object: {error}") from None
    if not isinstance(fields, dict):
        raise ValueError(f"{EXPECTATIONS_ENV} must be a JSON object of Expectations fields, got {raw!r}")
    if unknown := sorted(set(fields) - set(Expectations.model_fields)):
        known = ", ".join(Expectations.model_fields)
        raise ValueError(f"{EXPECTATIONS_ENV}: no such expectation {', '.join(unknown)}; known: {known}")
    return Expectations(**fields)
