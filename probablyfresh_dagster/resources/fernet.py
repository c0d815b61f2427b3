"""The Fernet key that encrypts phone and email before they reach Kafka."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from cryptography.fernet import Fernet


class FernetResource(dg.ConfigurableResource):
    """`key` comes from `EnvVar("FERNET_KEY")`, so Dagster shows the variable's name, never its value.

    `dev_key_path` is set by the local profile only: with no key configured, a dev key is created
    there once (owner-only permissions) and reused. In production it is unset, and a missing key
    is an error before anything is published.
    """

    key: str | None = None
    dev_key_path: str | None = None

    def cipher(self) -> Fernet:
        if self.key:
            return _parse(self.key.encode(), "FERNET_KEY")
        if not self.dev_key_path:
            raise ValueError(
                "FERNET_KEY is not set: production never generates a key. Create one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
            )
        path = Path(self.dev_key_path)
        created = _create_once(path)
        dg.get_dagster_logger().warning(
            f"FERNET_KEY is not set: {'created' if created else 'using'} the local dev key in {path}. "
            "Set FERNET_KEY for anything but local development."
        )
        return _parse(path.read_bytes().strip(), str(path))


def _parse(key: bytes, source: str) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        # `from None`: the original error may quote the key.
        raise ValueError(
            f"{source} is not a valid Fernet key (32 url-safe base64-encoded bytes)"
        ) from None


def _create_once(path: Path) -> bool:
    """Write a fresh key unless one exists; O_EXCL makes concurrent first runs agree on one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    return True
