"""The document store's resources: the embedded SQLite store, or MongoDB through pymongo."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager

import dagster as dg

from probablyfresh_dagster.documents import DocumentStore
from probablyfresh_dagster.resources.mongo_documents import MongoDocumentStore
from probablyfresh_dagster.resources.sqlite_documents import SqliteDocumentStore
from probablyfresh_dagster.scrub import secrets_kept_out, url_password
from probablyfresh_dagster.settings import resolved
from probablyfresh_dagster.transient import step_retried_when_transient


class DocumentStoreResource(dg.ConfigurableResource, ABC):
    """What the assets take as `mongo`: whichever backend the profile wires."""

    @abstractmethod
    def open(self) -> AbstractContextManager[DocumentStore]:
        """The store, closed on leaving."""


class SqliteDocumentStoreResource(DocumentStoreResource):
    path: str

    @contextmanager
    def open(self) -> Iterator[DocumentStore]:
        with closing(SqliteDocumentStore(resolved(self.path))) as store:
            yield store


class MongoDocumentStoreResource(DocumentStoreResource):
    """`username` and `password`, when set, are given to pymongo apart from the URL, so a password
    needs no percent-encoding (compose passes the server's own root password as written). Whatever
    the store raises leaves scrubbed of either password (see `scrub`)."""

    url: str
    database: str = "probablyfresh"
    username: str | None = None
    password: str | None = None

    @contextmanager
    def open(self) -> Iterator[DocumentStore]:
        with (
            step_retried_when_transient(),
            secrets_kept_out(self.password, url_password(self.url)),
            closing(MongoDocumentStore(self.url, self.database, self.username, self.password)) as store,
        ):
            yield store
