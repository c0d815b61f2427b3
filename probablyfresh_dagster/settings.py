"""Where things live, from the environment: the profile, the local state and the landing zone."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("local", "docker")
PROJECT = "{project}"
"""Stands for `PROJECT_ROOT` in a resource's configured path (see `in_project`)."""


@dataclass(frozen=True)
class Settings:
    profile: str = "local"
    state_dir: Path = PROJECT_ROOT / ".probablyfresh"
    data_dir: Path = PROJECT_ROOT / "data"
    shards: int = 1
    """Each entity's MongoDB, Kafka and RAW stages in this many shards, each a Dagster partition
    (see `shards`); 1 keeps them unpartitioned."""

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"PROBABLYFRESH_SHARDS must be at least 1, got {self.shards}")

    @classmethod
    def from_env(cls) -> Settings:
        profile = os.environ.get("PROBABLYFRESH_PROFILE", "local")
        if profile not in PROFILES:
            raise ValueError(f"PROBABLYFRESH_PROFILE must be one of {PROFILES}, got {profile!r}")
        return cls(
            profile=profile,
            state_dir=Path(os.environ.get("PROBABLYFRESH_STATE", cls.state_dir)).resolve(),
            data_dir=Path(os.environ.get("PROBABLYFRESH_DATA", cls.data_dir)).resolve(),
            shards=_count("PROBABLYFRESH_SHARDS", cls.shards),
        )


def _count(variable: str, default: int) -> int:
    value = os.environ.get(variable) or str(default)
    if not value.isdigit():
        raise ValueError(f"{variable} must be a whole number, got {value!r}")
    return int(value)


def in_project(path: Path) -> str:
    """`path` as the local profile configures a resource with it: `{project}/…` under the project
    folder, so that the launchpad's default config names no folder of this machine."""
    return f"{PROJECT}/{path.relative_to(PROJECT_ROOT).as_posix()}" if path.is_relative_to(PROJECT_ROOT) else str(path)


def resolved(configured: str) -> str:
    """A resource's configured path (or chDB DSN) with `{project}` replaced by the project folder."""
    return configured.replace(PROJECT, str(PROJECT_ROOT))


def load_env_file(path: Path = Path(".env")) -> None:
    """Set what `.env` (in the working directory, where `make` runs) holds and the environment
    does not, parsed by python-dotenv as Dagster parses it for `make dev`: a value quoted in single
    quotes is taken literally, here as in compose."""
    dotenv.load_dotenv(path, override=False)
