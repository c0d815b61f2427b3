"""Incidents: what is failing now, kept in the alert sensor's cursor, and the one message each
verdict that opens or resolves one sends. No Dagster here: the sources turn Dagster's records into
`Verdict`s, the sensor delivers the messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

FIGURES_CHARACTERS = 400
"""A message stays one short line: longer figures are cut there."""


@dataclass(frozen=True)
class Verdict:
    """One judgement of something that can fail: a check evaluation, a finished run, a freshness state."""

    key: str
    """The incident a failing verdict opens: one per check, per MART's freshness, per job and what
    its failed run left undone."""
    failing: bool
    subject: str
    """What was judged, as a message names it: `purchases_mart duplicate_share`."""
    failure: str
    """The word a failing verdict's message says: FAILING, FAILED, OVERDUE."""
    figures: str
    """The verdict in one line with its figures, as the check or the run states it."""
    link: str
    """Where the Dagster UI shows it."""
    position: tuple[str, int] | None = None
    """How far its source has been read once this verdict is handled: (source, last id)."""
    group: str = ""
    """The group of the incident a failing verdict opens (by default, its key) ..."""
    resolves: frozenset[str] = frozenset()
    """... and the groups a passing verdict resolves (by default, its key's), once their incidents
    have nothing left undone."""
    undone: frozenset[str] = frozenset()
    """What a failing verdict leaves undone (a failed run: the assets it planned and did not
    materialize); its incident resolves once a passing verdict finds all of it done."""
    done: frozenset[str] = frozenset()
    """What this verdict's run materialized: done for every open incident."""


@dataclass
class OpenIncident:
    subject: str
    since: float
    group: str
    undone: list[str] = field(default_factory=list)


@dataclass
class Incidents:
    """The sensor's cursor: how far each source was read, and the incidents open now."""

    positions: dict[str, int] = field(default_factory=dict)
    open: dict[str, OpenIncident] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> Incidents:
        if not cursor:
            return cls()
        saved = json.loads(cursor)
        return cls(saved["positions"], {key: OpenIncident(**value) for key, value in saved["open"].items()})

    def to_cursor(self) -> str:
        return json.dumps({"positions": self.positions, "open": {key: asdict(value) for key, value in self.open.items()}})

    def handle(self, verdict: Verdict, now: float, deliver: Callable[[str], None]) -> None:
        """Open or resolve what `verdict` opens or resolves, delivering each change's message
        first: when `deliver` raises, what it did not take stays as it was, and handling the
        verdict again on the next tick does the rest."""
        if verdict.failing and verdict.key not in self.open:
            deliver(f"ProbablyFresh: {verdict.subject} {verdict.failure}: {_one_line(verdict.figures)} — {verdict.link}")
            self.open[verdict.key] = OpenIncident(verdict.subject, now, verdict.group or verdict.key, sorted(verdict.undone))
        resolved = verdict.resolves or {verdict.key}
        for key, incident in list(self.open.items()):
            incident.undone = [asset for asset in incident.undone if asset not in verdict.done]
            if not verdict.failing and incident.group in resolved and not incident.undone:
                deliver(
                    f"ProbablyFresh: {incident.subject} RESOLVED after {duration(now - incident.since)}: "
                    f"{_one_line(verdict.figures)} — {verdict.link}"
                )
                del self.open[key]
        if verdict.position:
            source, last = verdict.position
            self.positions[source] = last


def latest_per_key(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """The last verdict of each key, in their order: what a sensor without a cursor announces
    (what is failing now), rather than every incident of the past opened and resolved again."""
    latest = {verdict.key: verdict for verdict in verdicts}
    return sorted(latest.values(), key=lambda verdict: verdict.position[1] if verdict.position else 0)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= FIGURES_CHARACTERS else line[: FIGURES_CHARACTERS - 1] + "…"


def duration(seconds: float) -> str:
    """A span as an operator reads it: `40 s`, `12 min`, `25 h 3 min`."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{max(round(seconds), 0)} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
