"""One MART run of an entity: every RAW row not yet judged goes to its MART tables or, with the
first rule it breaks, to `mart_rejects`.

The run works on a snapshot of RAW taken once at its start: per RAW partition, the offsets from
the entity's watermark (`mart_watermarks`) up to RAW's end at that moment. Every statement of the
run (`infra/clickhouse/mart_load/`) reads exactly that range, so rows RAW receives meanwhile wait
for the next run instead of reaching one MART table and not another. The watermark moves to the
end of the range only after all of them succeeded: a run that dies anywhere before leaves it
where it was, and the next run re-does the same range, which replaces what the dead one wrote
(the MART tables and `mart_rejects` are ReplacingMergeTrees keyed so a re-written row collapses).

Of the versions of a key, the MART keeps one winner by a stated rule (`mart_version` in
`mart_common.sql`), whatever the order in which they were written, published or loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from probablyfresh_dagster import query_progress
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.sql import query, run_script


@dataclass(frozen=True)
class OffsetRange:
    """RAW offsets [lower, upper) of one partition."""

    partition: int
    lower: int
    upper: int


def checked_view(mart_table: str) -> str:
    """The view holding one MART table's rows, typed, with their RAW key and reject reason."""
    return f"{mart_table}_checked"


def prepare(client: Client, entity: Entity) -> None:
    """Create (or update) what the MART run of `entity` needs: RAW, shared functions and tables, views."""
    run_script(client, "raw", table=entity.raw_table)
    run_script(client, "mart_common")
    run_script(client, f"marts/{entity.name}")


JUDGED_OFFSETS = 65_536
"""The most offsets of a range judged at once: its judged rows are held in memory (`load`), so the
MART's memory does not grow with what RAW received since the last run."""


def unjudged_ranges(client: Client, entity: Entity) -> list[OffsetRange]:
    """Per RAW partition, the offsets from the entity's watermark to RAW's end now (if any), in
    consecutive ranges of at most `JUDGED_OFFSETS`. Each is judged and its watermark moved before
    the next, as if by a run of its own: the winner rule does not depend on how the offsets are cut."""
    rows = query(client, "queries/mart_watermarks", entity=entity.name).result_rows
    watermarks: dict[int, int] = {partition: offset for partition, offset in rows}
    ends = query(client, "queries/raw_next_offsets", table=entity.raw_table).result_rows
    ranges = [
        OffsetRange(partition, lower, min(lower + JUDGED_OFFSETS, end))
        for partition, end in ends
        for lower in range(watermarks.get(partition, 0), end, JUDGED_OFFSETS)
    ]
    return sorted(ranges, key=lambda r: (r.partition, r.lower))


def load(client: Client, entity: Entity, offsets: OffsetRange, run_id: str, on_read: Callable[[int], None] | None = None) -> None:
    """Judge one range: its rows are evaluated once (the rules and the typed columns of the first
    MART table, and of a purchase its typed lines) into a temporary table of the client's session,
    from which the rejects, then each key's winner (when at least as good as the row the table
    holds), then the winners' lines in the second table are taken.

    `on_read(rows)`, if given, hears how many of the range's rows are judged while the judgement,
    the one statement that reads the range from RAW, runs."""
    bounds = {"partition": offsets.partition, "lower": offsets.lower, "upper": offsets.upper}
    first, *lines = entity.marts

    def report(share: float) -> None:
        if on_read is not None:
            on_read(int(share * (offsets.upper - offsets.lower)))

    with query_progress.reading(client, report):
        run_script(client, "mart_load/judge", checked=checked_view(first), **bounds)
    run_script(client, "mart_load/rejected", entity=entity.name, run_id=run_id)
    run_script(client, "mart_load/accepted", mart=first, key=entity.mart_key)
    for table in lines:
        run_script(client, "mart_load/following", mart=table, first=first, key=entity.mart_key, **bounds)
    run_script(client, "mart_load/judged_dropped")
    run_script(client, "mart_load/watermark", entity=entity.name, partition=offsets.partition, next_offset=offsets.upper)


# The fates of queries/mart_key_fates.sql.
KEPT, NOT_JUDGED, REJECTED, UNEXPLAINED = "kept", "not judged", "rejected", "unexplained"


@dataclass(frozen=True)
class KeyFate:
    keys: int
    examples: list[tuple[str, str]]
    """Up to `EXAMPLES_SHOWN` (key, latest reason recorded in mart_rejects, or '')."""


NO_KEYS = KeyFate(0, [])


def key_fates(client: Client, entity: Entity) -> dict[str, KeyFate]:
    """RAW keys by fate in the MART (a fate no key has is absent)."""
    result = query(
        client,
        "queries/mart_key_fates",
        entity=entity.name,
        raw_table=entity.raw_table,
        mart_table=entity.mart_table,
        limit=EXAMPLES_SHOWN,
    )
    return {fate: KeyFate(keys, [tuple(e) for e in examples]) for fate, keys, examples in result.result_rows}
