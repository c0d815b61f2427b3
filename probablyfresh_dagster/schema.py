"""What a source document must look like to reach MART: field kinds for the entity registry.

Each entity declares its schema in `entities.py` with these kinds; the landing zone checks every
document against it before MongoDB. The rules mirror what the MART SQL (`infra/clickhouse/marts`)
drops or misreads, so that MART drops nothing the landing accepted:

- ids and names are non-blank strings (the MART drops empty ones);
- every field the MART extracts as a string is a string, as a boolean a boolean, as a number a
  number, and every nested object it reads from is an object (null counts as absent);
- amounts are numbers in [0.01, 9 999 999 999.99]: the MART reads them as `Decimal(12, 2)`,
  rounded to the cent, and drops what is not positive or does not fit (the landing is the
  stricter: 0.005 rounds to 0.01 in the MART, and is refused here);
- dates are `YYYY-MM-DD`, datetimes `YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|±HH:MM]` (naive ones are
  UTC, as `parseDateTimeBestEffort(…, 'UTC')` reads them), never in the future and never before
  the MART's lower bound. Only these forms, because ClickHouse reads them the same way Python
  does; it does not read every form `fromisoformat` accepts (week dates, `20240101`).

A reason names the rule and may quote a number or a parsed date, never a text value: a text may
be a phone or an email.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

MART_EPOCH = date(1970, 1, 2)
"""The MART's lower bound for store inventory dates and for every datetime."""
OLDEST_BIRTH_DATE = date(1900, 1, 1)
MIN_AMOUNT = 0.01
MAX_AMOUNT = 9_999_999_999.99
"""The largest `Decimal(12, 2)`."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?)?", re.ASCII)
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


FieldPath = tuple[str | int, ...]


class Invalid(ValueError):
    """A document refused: where (the path of the field) and why."""

    def __init__(self, reason: str, path: FieldPath = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def at(self, part: str | int) -> Invalid:
        """The same refusal, one level further out (`items` + `[2].quantity`)."""
        return Invalid(self.reason, (part, *self.path))

    @property
    def field(self) -> str:
        """`items[2].quantity`; `(document)` when the document as a whole is refused."""
        rendered = "".join(f"[{part}]" if isinstance(part, int) else "." + (part or '""') for part in self.path)
        return rendered.removeprefix(".") or "(document)"


@dataclass(frozen=True)
class Clock:
    """The instant "the future" starts, taken once per load (the MART compares with later)."""

    now: datetime
    """Timezone-aware."""

    @classmethod
    def current(cls) -> Clock:
        return cls(datetime.now(UTC))

    @property
    def today(self) -> date:
        """Today in UTC, the ClickHouse server's timezone in both profiles."""
        return self.now.astimezone(UTC).date()


@dataclass(frozen=True, kw_only=True)
class Field:
    required: bool = False
    """Present and not null (an optional field may be absent or null)."""

    def check(self, value: Any, clock: Clock) -> None:
        """Raise `Invalid` when the (non-null) value breaks the rule."""
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Field):
    """A string; a required one must not be blank."""

    def check(self, value: Any, clock: Clock) -> None:
        if type(value) is not str:
            raise _wrong_type(value, "a string")
        if self.required and not value.strip():
            raise Invalid("must not be blank")


@dataclass(frozen=True)
class Flag(Field):
    def check(self, value: Any, clock: Clock) -> None:
        if type(value) is not bool:
            raise _wrong_type(value, "a boolean")


@dataclass(frozen=True)
class Number(Field):
    """A number (never a boolean or a numeric string) within the bounds given."""

    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    integer: bool = False

    def check(self, value: Any, clock: Clock) -> None:
        kind = type(value)
        if kind is not int and kind is not float:
            raise _wrong_type(value, "a number")
        if kind is float and (self.integer or not math.isfinite(value)):
            raise Invalid(f"expected {'an integer' if self.integer else 'a finite number'}, got {value}")
        if self.positive and not value > 0:
            raise Invalid(f"must be positive, got {value}")
        if self.minimum is not None and not value >= self.minimum:
            raise Invalid(f"must be at least {self.minimum}, got {value}")
        if self.maximum is not None and not value <= self.maximum:
            raise Invalid(f"must be at most {self.maximum}, got {value}")


@dataclass(frozen=True)
class Date(Field):
    """`YYYY-MM-DD`, from `since` to today (UTC)."""

    since: date = MART_EPOCH

    def check(self, value: Any, clock: Clock) -> None:
        if type(value) is not str:
            raise _wrong_type(value, "a YYYY-MM-DD date")
        parsed = _parsed(date.fromisoformat, _DATE, value, "a YYYY-MM-DD date")
        _within(parsed, self.since, clock.today)


@dataclass(frozen=True)
class DateTime(Field):
    """An ISO 8601 datetime (naive means UTC), from `since` (UTC midnight) to now."""

    since: date = MART_EPOCH

    def check(self, value: Any, clock: Clock) -> None:
        expected = "an ISO datetime (YYYY-MM-DDTHH:MM:SS, optional offset)"
        if type(value) is not str:
            raise _wrong_type(value, expected)
        parsed = _parsed(datetime.fromisoformat, _DATETIME, value, expected)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        since = datetime(self.since.year, self.since.month, self.since.day, tzinfo=UTC)
        _within(parsed, since, clock.now)


@dataclass(frozen=True)
class Record(Field):
    """An object; the fields listed are checked, any other field passes as it is."""

    fields: Mapping[str, Field] = field(hash=False)

    def check(self, value: Any, clock: Clock) -> None:
        if type(value) is not dict:
            raise _wrong_type(value, "an object")
        for name, rule in self.fields.items():
            item = value.get(name)
            if item is None:
                if rule.required:
                    raise Invalid("required" if name not in value else "required, got null", (name,))
                continue
            try:
                rule.check(item, clock)
            except Invalid as invalid:
                raise invalid.at(name) from None


@dataclass(frozen=True)
class ListOf(Field):
    """An array of `item`s, with at least `min_items` and at most `max_items` of them."""

    item: Field
    min_items: int = 0
    max_items: int | None = None

    def check(self, value: Any, clock: Clock) -> None:
        if type(value) is not list:
            raise _wrong_type(value, "an array")
        if len(value) < self.min_items:
            raise Invalid("must not be empty" if self.min_items == 1 else f"needs at least {self.min_items} items")
        if self.max_items is not None and len(value) > self.max_items:
            raise Invalid(f"has {len(value)} items, more than {self.max_items}")
        for index, item in enumerate(value):
            try:
                self.item.check(item, clock)
            except Invalid as invalid:
                raise invalid.at(index) from None


def _wrong_type(value: Any, expected: str) -> Invalid:
    return Invalid(f"expected {expected}, got {_json_type(value)}")


def _parsed(parse: Any, form: re.Pattern[str], text: str, expected: str) -> Any:
    """The parsed value, or `Invalid` that does not quote the text (it may be anything)."""
    if form.fullmatch(text):
        try:
            return parse(text)
        except ValueError:
            pass
    raise Invalid(f"expected {expected}, got a string that is not one")


def _within(value: date, since: date, until: date) -> None:
    if value > until:
        raise Invalid(f"{value.isoformat()} is in the future")
    if value < since:
        raise Invalid(f"{value.isoformat()} is before {since.isoformat()}")
