"""Casts: what a column's values become as properties, declared per mapping (`properties.cast`).

PostgreSQL rows travel as JSON (triggers, outbox, snapshots and watermark reads all take `to_jsonb`), so a
timestamp arrives as ISO text and a JSON column as a map, which graph properties cannot hold. A cast turns
them into what a graph user queries: temporal values, numbers, or a JSON column's members as properties.
"""

from __future__ import annotations

import enum


class Cast(enum.StrEnum):
    # ISO text (or a value already of the kind) to a graph temporal value.
    DATE = "date"
    LOCAL_DATE_TIME = "localDateTime"
    DATE_TIME = "dateTime"
    LOCAL_TIME = "localTime"
    INTEGER = "integer"
    FLOAT = "float"
    STRING = "string"
    BOOLEAN = "boolean"
    # A JSON value (map or list) as its JSON text.
    JSON = "json"
    # A JSON object's members as properties of their own, `<property>_<member>` (nested objects the same way).
    FLATTEN = "flatten"
