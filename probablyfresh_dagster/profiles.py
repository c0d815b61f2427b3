"""The backends of each profile: `local` runs embedded ones in the state folder, `docker` the
stack's servers, from the environment. Secrets are `EnvVar`s, read at run time and never shown."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypedDict

import dagster as dg

from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.resources.documents import (
    DocumentStoreResource,
    MongoDocumentStoreResource,
    SqliteDocumentStoreResource,
)
from probablyfresh_dagster.resources.events import EventLogResource, KafkaEventLogResource, SqliteEventLogResource
from probablyfresh_dagster.resources.expectations import Expectations, expectations_from_env
from probablyfresh_dagster.resources.fernet import FernetResource
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.resources.telegram import BASE_URL_VARIABLE, TOKEN_VARIABLE, UI_URL_VARIABLE, TelegramResource
from probablyfresh_dagster.settings import Settings, in_project


class Backends(TypedDict):
    """What a profile chooses: the same keys and protocols on both."""

    mongo: DocumentStoreResource
    kafka: EventLogResource
    clickhouse: ClickHouseResource
    fernet: FernetResource


class Resources(Backends):
    files: FilesResource
    telegram: TelegramResource
    expectations: Expectations


def local_backends(settings: Settings) -> Backends:
    state = settings.state_dir
    return {
        "mongo": SqliteDocumentStoreResource(path=in_project(state / "mongo.sqlite3")),
        "kafka": SqliteEventLogResource(path=in_project(state / "kafka.sqlite3")),
        "clickhouse": ClickHouseResource(dsn=f"chdb:///{in_project(state / 'clickhouse')}"),
        "fernet": FernetResource(key=optional_env("FERNET_KEY"), dev_key_path=in_project(state / "fernet.key")),
    }


def docker_backends(settings: Settings) -> Backends:
    return {
        "mongo": MongoDocumentStoreResource(
            url=dg.EnvVar("MONGO_URL"), username=optional_env("MONGO_USER"), password=optional_env("MONGO_PASSWORD")
        ),
        "kafka": KafkaEventLogResource(
            bootstrap_servers=dg.EnvVar("KAFKA_BOOTSTRAP_SERVERS"),
            partitions=int(os.environ.get("KAFKA_PARTITIONS", "3")),
            replication_factor=count_from_env("KAFKA_REPLICATION_FACTOR", 1),
            min_insync_replicas=count_from_env("KAFKA_MIN_INSYNC_REPLICAS", 1),
            username=optional_env("KAFKA_USER"),
            password=optional_env("KAFKA_PASSWORD"),
        ),
        "clickhouse": ClickHouseResource(
            dsn=dg.EnvVar("CLICKHOUSE_DSN"),
            username=optional_env("CLICKHOUSE_USER"),
            password=optional_env("CLICKHOUSE_PASSWORD"),
            cluster=os.environ.get("CLICKHOUSE_CLUSTER") or None,
        ),
        "fernet": FernetResource(key=dg.EnvVar("FERNET_KEY")),
    }


PROFILE_BACKENDS: dict[str, Callable[[Settings], Backends]] = {"local": local_backends, "docker": docker_backends}


def profile_resources(settings: Settings) -> Resources:
    """Every resource the assets take, on the profile's backends; the rest is the same on both."""
    return {
        "files": files_from_env(settings),
        **PROFILE_BACKENDS[settings.profile](settings),
        "telegram": telegram_from_env(),
        "expectations": expectations_from_env(),
    }


def count_from_env(name: str, default: int) -> int:
    """`name` as a whole number of at least 1; unset or empty (.env.example leaves it so), `default`."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def optional_env(name: str) -> dg.EnvVar | None:
    """`name` as an `EnvVar` (read at run time, never shown in the UI) when it is set, else None."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def files_from_env(settings: Settings) -> FilesResource:
    """The landing zone under the data folder; `PROBABLYFRESH_MAX_FILE_BYTES` sets the size limit."""
    limit = os.environ.get("PROBABLYFRESH_MAX_FILE_BYTES", "").strip()
    if not limit:
        return FilesResource(root=in_project(settings.data_dir))
    if not limit.isdigit():
        raise ValueError(f"PROBABLYFRESH_MAX_FILE_BYTES must be a whole number of bytes, got {limit!r}")
    return FilesResource(root=in_project(settings.data_dir), max_file_bytes=int(limit))


def telegram_from_env() -> TelegramResource:
    """The bot token and the base URL are `EnvVar`s (the URL holds the token once built, and a
    proxy's may hold a password of its own), used only when set."""
    base_url = optional_env(BASE_URL_VARIABLE)
    unless_default: dict[str, Any] = {"api_base_url": base_url} if base_url else {}
    if ui_url := os.environ.get(UI_URL_VARIABLE):
        unless_default["dagster_ui_url"] = ui_url
    return TelegramResource(
        bot_token=optional_env(TOKEN_VARIABLE), chat_id=os.environ.get("TELEGRAM_CHAT_ID") or None, **unless_default
    )
