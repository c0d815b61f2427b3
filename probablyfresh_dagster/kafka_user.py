"""Create or update the SCRAM user of Kafka's host listener: the compose `kafka-user` service.

    KAFKA_BOOTSTRAP_SERVERS=kafka:9092 KAFKA_USER=... KAFKA_PASSWORD=... python -m probablyfresh_dagster.kafka_user

Through AlterUserScramCredentials (KRaft stores the credential in its metadata log), on the
listener of the compose network, at every start: unlike `kafka-storage format --add-scram`, which
only a fresh volume sees, a changed password reaches an existing volume too. kafka-python sends a
salted PBKDF2 hash; the password itself never leaves this process, and is never printed.
"""

from __future__ import annotations

import os
import sys

from kafka import KafkaAdminClient
from kafka.admin import UserScramCredentialUpsertion

from probablyfresh_dagster.resources.kafka_events import SASL_MECHANISM

ITERATIONS = 8192
"""PBKDF2 rounds of the stored credential (Kafka's minimum is 4096)."""


def set_scram_user(bootstrap_servers: str, user: str, password: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), request_timeout_ms=30_000)
    try:
        upsert = UserScramCredentialUpsertion(user, SASL_MECHANISM, password, iterations=ITERATIONS)
        error = admin.alter_user_scram_credentials([upsert])[user]
    finally:
        admin.close()
    if error:
        raise RuntimeError(f"Kafka at {bootstrap_servers} refused the {SASL_MECHANISM} user {user!r}: {error}")


def main() -> None:
    servers, user = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["KAFKA_USER"]
    set_scram_user(servers, user, os.environ["KAFKA_PASSWORD"])
    print(f"{SASL_MECHANISM} user {user!r} set on Kafka at {servers}", file=sys.stderr)


if __name__ == "__main__":
    main()
