"""Repairs a chDB folder that a full disk (or a crash) left with empty or truncated metadata.

What a full disk leaves, reproduced on a small tmpfs filled during a ClickHouse step
(test_chdb_repair): ClickHouse rewrites a table's metadata file (`store/<uuid>/<table>.sql`, which
`metadata/<database>` links to) at each CREATE and ALTER, and a user-defined function's
(`user_defined/function_<name>.sql`) at each CREATE OR REPLACE; on a full disk it can leave them at
0 bytes. A table created then also gets a 0-byte `format_version.txt` in its data folder. The data
parts survive (each is written whole, then renamed). chDB then refuses the folder, run after run:
`Error initializing EmbeddedServer: . (BAD_ARGUMENTS)`.

So, before chDB opens the folder, `set_aside` looks for such files: empty, or cut short (no final
line break, or a bracket or quote left open). Those of the platform's own tables, views and
functions (the names infra/clickhouse creates) are moved, never deleted, into
`<folder>-set-aside/<UTC time>/`, under their paths in the folder. Once chDB is open, `restore`
brings each object back from the same SQL:

- a table whose data folder survived is attached to it again (`ATTACH TABLE … UUID`, the columns
  and engine of its CREATE statement): nothing is lost;
- a table without one, or whose data chDB refuses (that data folder is set aside too), is created
  empty and refilled: a RAW table (or `raw_set_aside`) is read again from the event log
  (`raw_reloads.sql`), a MART table (or `mart_rejects`) rebuilt from RAW by forgetting its
  entity's watermarks. Both loaders already make a re-read or a re-judged range exact: RAW's
  redelivery guard keeps what RAW holds, a MART range re-done replaces what it wrote;
- a view or a function is created again by its script.

A broken file of anything else is left as it is, and `BrokenChdbState` names it and the command
that moves it aside: the platform changes only what it wrote.
"""

from __future__ import annotations

import re
import shlex
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote

import dagster as dg
import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from probablyfresh_dagster.ddl_scripts import ddl_scripts
from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.private_files import private_dir
from probablyfresh_dagster.sql import query, run_script, statements

SET_ASIDE_SUFFIX = "-set-aside"
FUNCTION_PREFIX = "function_"
FORMAT_VERSION = "format_version.txt"
PENDING, DONE = "pending.json", "done.json"
"""The repair plan in its set-aside folder, before and after `restore`."""
DATABASE = "default"
"""chDB's database, the platform's tables, views and functions are in."""
_CREATED = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?P<kind>TABLE|VIEW|FUNCTION)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\{table:Identifier\}|\w+)",
    re.MULTILINE,
)
_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\S+)", re.MULTILINE)


class BrokenChdbState(RuntimeError):
    """chDB's folder holds broken metadata that is not the platform's to repair."""


@dataclass(frozen=True)
class Definition:
    """The script of infra/clickhouse that creates a table, view or function, with its parameters."""

    kind: str
    script: str
    parameters: tuple[tuple[str, str], ...] = ()

    def run(self, client: Client) -> None:
        run_script(client, self.script, **dict(self.parameters))


@cache
def definitions() -> dict[str, Definition]:
    """Every table, view and function the platform's SQL creates, by name, in creation order."""
    found: dict[str, Definition] = {}
    for script, parameters in ddl_scripts():
        for statement in statements(script):
            for match in _CREATED.finditer(statement):
                name = dict(parameters)["table"] if match["name"].startswith("{") else match["name"]
                found.setdefault(name, Definition(match["kind"], script, parameters))
    return found


@dataclass
class Repair:
    """What `set_aside` moved out of the chDB folder, for `restore` to bring back. Kept in
    `<aside>/pending.json` from before the first move until `restore` is done, so that a run that
    dies in between leaves the repair to the next one."""

    folder: Path
    aside: Path
    moved: list[str] = field(default_factory=list)
    """Paths relative to `folder`, now under `aside`."""
    objects: list[str] = field(default_factory=list)
    """Every table, view and function whose metadata was set aside."""
    emptied: list[str] = field(default_factory=list)
    """The tables created again without their rows, to refill."""

    @classmethod
    def pending(cls, folder: Path) -> Repair | None:
        """The repair a run left unfinished, if any."""
        for plan in sorted(_aside_root(folder).glob(f"*/{PENDING}")):
            return cls(folder, plan.parent, **orjson.loads(plan.read_bytes()))
        return None

    def plan(self, objects: Iterable[str] = (), emptied: Iterable[str] = ()) -> None:
        self.objects += [name for name in objects if name not in self.objects]
        self.emptied += [name for name in emptied if name not in self.emptied]
        private_dir(self.aside)
        plan = {"moved": self.moved, "objects": self.objects, "emptied": self.emptied}
        _write_atomically(self.aside / PENDING, orjson.dumps(plan))

    def move(self, path: Path) -> None:
        relative = path.relative_to(self.folder)
        target = self.aside / relative
        shutil.move(path, private_dir(target.parent) / target.name)
        self.moved.append(str(relative))
        self.plan()

    def done(self) -> None:
        (self.aside / PENDING).rename(self.aside / DONE)


def set_aside(folder: Path) -> Repair | None:
    """Move the platform's broken metadata out of the chDB folder, before chDB opens it; the repair
    to finish once it is open (this one or one a run left unfinished), None when there is none.
    Raises `BrokenChdbState`, moving nothing, when anything else is broken."""
    folder = folder.resolve()  # the data folders are found through links, by their real paths
    broken = [(path, name) for path, name in _metadata(folder) if _cut_short(path.read_bytes())]
    broken += [(path, name) for path, name in _data_format_files(folder) if path.stat().st_size == 0]
    repair = Repair.pending(folder)
    if not broken:
        return repair
    known = definitions()
    foreign = sorted({path for path, name in broken if name not in known})
    aside = repair.aside if repair else _aside_root(folder) / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    if foreign:
        raise BrokenChdbState(
            f"chDB cannot open {folder}: {len(foreign)} metadata file(s) are empty or cut short (a full "
            f"disk or a crash) and are not the platform's, so they are left as they are: "
            f"{', '.join(map(str, foreign))}. Move them aside with `{shlex.join(['mkdir', '-p', str(aside)])} && "
            f"{shlex.join(['mv', *map(str, foreign), str(aside)])}`, then run again (a table's data stays in "
            f"{folder / 'store'}; ATTACH TABLE <name> UUID '<uuid>' (<columns>) ENGINE = … attaches it again)."
        )
    repair = repair or Repair(folder, aside)
    repair.plan(objects=[name for path, name in broken if path.name != FORMAT_VERSION])
    for path, _ in broken:
        repair.move(path)  # a format_version.txt: ClickHouse writes it again when it attaches the table
    return repair


def restore(client: Client, repair: Repair) -> list[str]:
    """Bring back what `repair` set aside, now that chDB is open; one line per thing done.

    The steps can be run again after a run died among them: a table already back is left alone, and
    which tables lost their rows is in the plan before any of them is created again, so their refill
    is asked for however far the run went."""
    known = definitions()
    tables = [name for name in known if name in repair.objects and known[name].kind == "TABLE"]
    back = {name for (name,) in query(client, "queries/existing_tables", tables=tables).result_rows}
    done = [f"moved {len(repair.moved)} empty or cut-short metadata file(s) to {repair.aside}"]
    lost = []
    for name in (name for name in tables if name not in back):
        data_uuid = _surviving_data(repair.folder, name)
        if data_uuid and _attach(client, name, known[name], data_uuid):
            done.append(f"{name}: attached again to its data ({data_uuid})")
        else:
            lost.append(name)
    repair.plan(emptied=lost)
    for name in lost:  # what is left of their data, out of the way of the tables created below
        for link in _data_links(repair.folder, name):
            if link.resolve().is_dir():
                repair.move(link.resolve())
            repair.move(link)
    for definition in dict.fromkeys(known[name] for name in known if name in repair.objects):  # creation order
        definition.run(client)
    done += [f"{name}: created again from {known[name].script}.sql" for name in repair.objects if known[name].kind != "TABLE"]
    done += _refill(client, repair.emptied)
    repair.done()
    for line in done:
        dg.get_dagster_logger().warning(f"chDB repair: {line}")
    return done


def _refill(client: Client, emptied: list[str]) -> list[str]:
    """Have the loaders refill the tables re-created without their rows; what each will do."""
    lost = set(emptied)
    reload = [e for e in ENTITIES if lost & {e.raw_table, "raw_set_aside", "raw_reloads"}]
    rejudge = [e for e in ENTITIES if lost & {*e.marts, "mart_rejects"}]
    if reload:
        run_script(client, "raw_reloads")  # the RAW loader creates it; a state from before has none
        run_script(client, "chdb_repair/reload_raw", tables=[e.raw_table for e in reload])
    if rejudge:
        run_script(client, "chdb_repair/forget_watermarks", entities=[e.name for e in rejudge])
    done = [f"{name}: its rows were lost; created again empty" for name in emptied]
    done += [f"{e.raw_table}: the next RAW run reads topic {e.name} again from the start" for e in reload]
    done += [f"{e.name}: the next MART run judges all of {e.raw_table} again" for e in rejudge]
    if "mart_watermarks" in lost:
        done.append("mart_watermarks: the next MART run of each entity judges all of RAW again")
    if "duplicates_log" in lost:
        done.append("duplicates_log: the rows of past runs are lost; each MART run adds its own again")
    if "kafka_lag" in lost:
        done.append("kafka_lag: the samples of past runs are lost; each RAW run adds its own again")
    return done


def _attach(client: Client, name: str, definition: Definition, data_uuid: str) -> bool:
    """Attach the table to its data folder again, from its CREATE statement; whether chDB took it."""
    parameters = dict(definition.parameters)
    (create,) = [s for s in statements(definition.script) if _created_table(s, parameters) == name]
    attach = _CREATE_TABLE.sub(lambda m: f"ATTACH TABLE {m[1]} UUID '{uuid.UUID(data_uuid)}'", create, count=1)
    try:
        client.command(attach, parameters=parameters)
    except DatabaseError as error:  # the table is created empty instead
        dg.get_dagster_logger().warning(f"chDB repair: {name}: its data could not be attached again: {error}")
        return False
    return True


def _aside_root(folder: Path) -> Path:
    return folder.with_name(folder.name + SET_ASIDE_SUFFIX)


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    temporary.replace(path)


def _created_table(statement: str, parameters: dict[str, str]) -> str | None:
    match = _CREATE_TABLE.search(statement)
    return match and (parameters["table"] if match[1].startswith("{") else match[1])


def _metadata(folder: Path) -> Iterator[tuple[Path, str]]:
    """Each metadata file in the chDB folder, with the name of what it defines: a table or view of
    the database the platform uses, a function; `<database>.<name>` in another database, '' for a
    database's own."""
    metadata = folder / "metadata"
    for entry in sorted(metadata.iterdir()) if metadata.is_dir() else ():
        prefix = "" if entry.name == DATABASE else f"{unquote(entry.name)}."
        if entry.is_dir():
            yield from ((path, prefix + unquote(path.stem)) for path in sorted(entry.glob("*.sql")))
        elif entry.suffix == ".sql":
            yield entry, ""
    for path in sorted((folder / "user_defined").glob(f"{FUNCTION_PREFIX}*.sql")):
        yield path, unquote(path.stem.removeprefix(FUNCTION_PREFIX))


def _data_format_files(folder: Path) -> Iterator[tuple[Path, str]]:
    """The `format_version.txt` of each table's data folder that holds no data part, with the table."""
    for link in sorted((folder / "data").glob("*/*")):
        data = link.resolve()
        if (data / FORMAT_VERSION).is_file() and not _has_parts(data):
            prefix = "" if link.parent.name == DATABASE else f"{unquote(link.parent.name)}."
            yield data / FORMAT_VERSION, prefix + unquote(link.name)


def _has_parts(data: Path) -> bool:
    return any(p.is_dir() and p.name != "detached" for p in data.iterdir())


def _data_links(folder: Path, table: str) -> list[Path]:
    return [link for link in (folder / "data").glob(f"*/{quote(table, safe='')}") if link.is_symlink()]


def _surviving_data(folder: Path, table: str) -> str | None:
    """The UUID of the table's data folder (`store/<uuid>`, which `data/<database>/<table>` links to), if it is there."""
    for link in _data_links(folder, table):
        data = link.resolve()
        if data.is_dir() and data.parent.parent.name == "store":
            return data.name
    return None


def _cut_short(text: bytes) -> bool:
    """Whether a metadata file is empty or cut short: ClickHouse ends each with a line break, after
    the last bracket and quote it opened are closed."""
    if not text.endswith(b"\n"):
        return True
    depth, quote_char, escaped = 0, None, False
    for char in text.decode(errors="replace"):
        if quote_char:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote_char:
                quote_char = None
        elif char in "'`\"":
            quote_char = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
    return depth != 0 or quote_char is not None
