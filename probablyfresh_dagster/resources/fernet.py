"""The Fernet key that encrypts phone and email before they reach Kafka."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg
from cryptography.fernet import Fernet

from probablyfresh_dagster.free_space import require_free_space
from probablyfresh_dagster.lock_waits import exclusive_file_lock
from probablyfresh_dagster.private_files import private_dir, private_file
from probablyfresh_dagster.scrub import secrets_kept_out
from probablyfresh_dagster.settings import resolved

# The runs whose dev-key warning was logged, next to the key (see `_first_of_run`).
WARNED_RUNS = ".fernet-warned-runs"
RECENT_RUNS = 64


class FernetResource(dg.ConfigurableResource):
    """`key` comes from `EnvVar("FERNET_KEY")`, so Dagster shows the variable's name, never its value.

    `dev_key_path` is set by the local profile only: with no key configured, a dev key is created
    there once (owner-only permissions) and reused. In production it is unset, and a missing key
    is an error before anything is published.
    """

    key: str | None = None
    dev_key_path: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Warn about the dev key here, as the resource is set up (`cipher()` is called once per
        asset that publishes): set up once per run in process (`make run`), but once per step
        process otherwise (`make dev`), so the steps of a run record who warned (`_first_of_run`)."""
        if not self.key and self.dev_key_path:
            path = Path(resolved(self.dev_key_path))
            created = _create_once(path)
            if not _first_of_run(path.parent / WARNED_RUNS, context.run.run_id if context.run else None):
                return
            # The run's log; Dagster's logger when the resource is built outside a run.
            (context.log or dg.get_dagster_logger()).warning(
                f"FERNET_KEY is not set: {'created' if created else 'using'} the local dev key in {path}. "
                "Set FERNET_KEY for anything but local development."
            )

    def cipher(self) -> Fernet:
        if self.key:
            return _parse(self.key.encode(), "FERNET_KEY")
        if not self.dev_key_path:
            raise ValueError(
                "FERNET_KEY is not set: production never generates a key. Create one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
            )
        path = Path(resolved(self.dev_key_path))
        _create_once(path)
        key = path.read_bytes().strip()
        if not key:
            raise ValueError(
                f"{path} is empty: delete it and a new dev key is created (nothing can have been encrypted with an empty key)"
            )
        return _parse(key, str(path))


def _first_of_run(record: Path, run_id: str | None) -> bool:
    """Whether no step of the run warned yet; records that this one does. The record keeps the
    last RECENT_RUNS run ids, under a file lock, as the steps of a run may start at once."""
    if run_id is None:  # outside a run
        return True
    with exclusive_file_lock(record.with_suffix(".lock"), "the dev key's warning record"):
        runs = record.read_text().split() if record.exists() else []
        if run_id in runs:
            return False
        private_file(record).write_text("\n".join([*runs[-RECENT_RUNS + 1 :], run_id]))
        return True


def _parse(key: bytes, source: str) -> Fernet:
    with secrets_kept_out(key.decode(errors="replace")):
        try:
            return Fernet(key)
        except ValueError:
            # Named after where the key comes from; `from None`: the original error may quote it.
            raise ValueError(f"{source} is not a valid Fernet key (32 url-safe base64-encoded bytes)") from None


def _create_once(path: Path) -> bool:
    """Write a fresh key unless one exists; True when this call created it.

    The key is written in full to a temporary file (0600, fsynced) and hard-linked to `path`:
    the link appears with its content or not at all, so a kill at any point never leaves an
    empty key (at most a `.fernet.key.*.tmp` file nobody reads), and `link` refuses an existing
    target, so concurrent first runs agree on the one key that got there first.
    """
    require_free_space(path.parent)
    private_dir(path.parent)
    if path.exists():
        return False
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as key_file:
            key_file.write(Fernet.generate_key())
            key_file.flush()
            os.fsync(key_file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        _fsync_dir(path.parent)
        return True
    finally:
        os.unlink(temporary)


def _fsync_dir(folder: Path) -> None:
    """Make the new name durable, so a power cut cannot lose a key that already encrypted data."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
