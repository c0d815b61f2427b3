"""RAW rows in ClickHouse's RowBinary format, inserted with `Client.raw_insert`.

Not `Client.insert`: clickhouse-connect's insert first asks whether the rows are a pandas
DataFrame, and asking imports pandas (installed with chDB), a cost paid again in every process
that loads RAW. RowBinary also carries each payload as the bytes Kafka delivered, with no conversion.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from probablyfresh_dagster.events import Message
from probablyfresh_dagster.outbox import SOURCE_ID

ROW_BINARY = "RowBinary"
RAW_COLUMNS = ("topic", "partition", "offset", "key", "source", "payload")
"""The columns `raw_rows` encodes, in order: String, UInt32, UInt64, String, String, String."""

_POSITION = struct.Struct("<IQ")


def raw_rows(messages: Iterable[Message]) -> bytes:
    return b"".join(
        _string(m.topic.encode())
        + _POSITION.pack(m.partition, m.offset)
        + _string(m.key.encode())
        + _string(_source(m).encode())
        + _string(m.value)
        for m in messages
    )


def _source(message: Message) -> str:
    """The record's source id, from the header the outbox writes; '' from another producer."""
    return next((value for name, value in message.headers if name == SOURCE_ID), "")


def _string(data: bytes) -> bytes:
    """A String: its length as an unsigned LEB128 varint, then its bytes."""
    length, prefix = len(data), bytearray()
    while length >= 0x80:
        prefix.append(length & 0x7F | 0x80)
        length >>= 7
    prefix.append(length)
    return bytes(prefix) + data
