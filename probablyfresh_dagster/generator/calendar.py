"""What the records and the purchases of a generation share: the record type and the calendar.

Kept apart from `records` (Faker, the configuration, Dagster) so that a purchase worker
(`purchase_workers`) imports only what drawing purchases needs.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

MOSCOW = timezone(timedelta(hours=3))
PURCHASE_WINDOW = timedelta(days=90)
"""Purchases fall in the 90 days up to the generation's `as_of`; customers registered before them."""

Record = dict[str, Any]
