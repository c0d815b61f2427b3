"""An exclusive lease in MongoDB, for holders on different hosts (run containers).

A lease is a document `{_id: name, owner, host, pid, started, expires_at}`. Taking it is
one upsert that matches only an expired lease or our own, so two takers cannot both succeed (the
loser's upsert collides on `_id`). A thread renews it while held; a holder killed outright stops
renewing and the lease is free `seconds` later at most, and at once for a taker on the holder's
own host, which sees the holder's process gone (its pid no longer runs the process that started
at `started`). A release that fails (MongoDB away as the holder ends) leaves the lease to expire
for other processes, but not for the holder's own: it knows nobody holds it, so its next taker (a
step retried in the same process) takes it at once. Expiry compares the hosts' clocks, which the
compose stack shares. A holder that stalls past expiry loses the lease without knowing: the
publisher relies on Kafka's fencing, not on the lease, for correctness (see `outbox.py`).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import psutil
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

RETRY_SECONDS = 1.0
# Owners whose holder ended in this process but could not delete the lease: free for this process.
_LET_GO: set[str] = set()


@contextmanager
def mongo_lease(leases: Collection[dict[str, Any]], name: str, what: str, seconds: float) -> Iterator[None]:
    owner = uuid.uuid4().hex
    me = psutil.Process()
    holder = {"host": socket.gethostname(), "pid": me.pid, "started": me.create_time()}
    if not _take(leases, name, owner, holder, seconds):
        current = leases.find_one({"_id": name}) or {}
        dg.get_dagster_logger().warning(
            f"Waiting for {what}: held by pid {current.get('pid', '?')} on {current.get('host', '?')} "
            f"until {current.get('expires_at')} UTC unless renewed"
        )
        while not _take(leases, name, owner, holder, seconds):
            time.sleep(min(RETRY_SECONDS, seconds))
    released = threading.Event()
    renewer = threading.Thread(target=_renew, args=(leases, name, owner, seconds, released), daemon=True)
    renewer.start()
    try:
        yield
    finally:
        released.set()
        renewer.join()
        try:
            leases.delete_one({"_id": name, "owner": owner})
        except PyMongoError:
            _LET_GO.add(owner)
            raise


def _take(leases: Collection[dict[str, Any]], name: str, owner: str, holder: dict[str, Any], seconds: float) -> bool:
    now = datetime.now(UTC)
    takeable: list[dict[str, Any]] = [{"expires_at": {"$lt": now}}, {"owner": owner}]
    current = leases.find_one({"_id": name})
    if current is not None and (current["owner"] in _LET_GO or _gone(current, holder["host"])):
        takeable.append({"owner": current["owner"]})
    try:
        leases.update_one(
            {"_id": name, "$or": takeable},
            {"$set": {"owner": owner, **holder, "expires_at": now + timedelta(seconds=seconds)}},
            upsert=True,
        )
    except DuplicateKeyError:
        return False
    return True


def _gone(lease: dict[str, Any], host: str) -> bool:
    """Whether the lease's holder is a process of this host that no longer runs."""
    if lease.get("host") != host or not isinstance(lease.get("pid"), int):
        return False
    try:
        return psutil.Process(lease["pid"]).create_time() != lease.get("started")
    except psutil.NoSuchProcess:
        return True


def _renew(leases: Collection[dict[str, Any]], name: str, owner: str, seconds: float, released: threading.Event) -> None:
    while not released.wait(seconds / 3):
        expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
        try:
            renewed = leases.update_one({"_id": name, "owner": owner}, {"$set": {"expires_at": expires_at}})
        except PyMongoError as error:  # try again next period, while the lease still runs
            dg.get_dagster_logger().warning(f"Could not renew the lease {name!r}: {error}")
            continue
        if not renewed.matched_count:
            dg.get_dagster_logger().error(f"Lost the lease {name!r}: it expired and was taken over")
            return
