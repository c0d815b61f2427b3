"""What a generation writes: how much, from which seed, as of which day, in which format."""

from __future__ import annotations

import os
from datetime import date
from typing import Literal

import dagster as dg

DEFAULT_SEED = 42

LandingFormat = Literal["json", "jsonl", "jsonl.gz"]


class GeneratorConfig(dg.Config):
    """How much to generate and from which seed."""

    seed: int | None = None
    """None: the `SEED` environment variable, else 42."""
    almost_stores: int = 30
    """Stores of the "Almost" network (supermarkets), numbered first."""
    maybe_stores: int = 15
    """Stores of the "Maybe" network (neighbourhood shops)."""
    products_per_category: int = 20
    customers_per_store: int = 1
    purchases: int = 200
    as_of: str = "2026-11-01"
    """The generator's "today" (YYYY-MM-DD): every generated date is on or before it.

    A fixed date rather than the wall clock, so a seed yields byte-identical files whenever it
    is run; move it forward to get recent-looking data.
    """
    format: LandingFormat = "json"
    """`json`: one file per record; `jsonl` (`jsonl.gz`): one batch file per entity, a record a line."""


def resolve_seed(cli_seed: int | None) -> int:
    """The explicit (CLI or run config) seed, else the `SEED` environment variable, else 42."""
    if cli_seed is not None:
        return cli_seed
    raw = os.environ.get("SEED", "").strip()
    if not raw:
        return DEFAULT_SEED
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"SEED must be an integer, got {raw!r}") from None


def check_config(config: GeneratorConfig) -> date:
    """Raise a ValueError naming every invalid setting; return the parsed `as_of` date."""
    problems = [
        f"{name} must be >= 0, got {value}"
        for name, value in (
            ("almost_stores", config.almost_stores),
            ("maybe_stores", config.maybe_stores),
            ("products_per_category", config.products_per_category),
            ("customers_per_store", config.customers_per_store),
            ("purchases", config.purchases),
        )
        if value < 0
    ]
    if config.purchases > 0 and not problems:
        if config.almost_stores + config.maybe_stores == 0:
            problems.append("purchases need at least one store")
        if config.products_per_category == 0:
            problems.append("purchases need at least one product (products_per_category >= 1)")
        if config.customers_per_store == 0:
            problems.append("purchases need at least one customer (customers_per_store >= 1)")
    try:
        as_of = date.fromisoformat(config.as_of)
    except ValueError:
        problems.append(f"as_of must be a YYYY-MM-DD date, got {config.as_of!r}")
    if problems:
        raise ValueError("Invalid generator config: " + "; ".join(problems))
    return as_of
