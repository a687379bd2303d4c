"""Temporal properties for FalkorDB: which Python values it holds exactly, and how they travel.

FalkorDB keeps dates, and local date-times and times to the second, without
time zones. A value it would change (a zone, a fraction of a second) is refused,
never rounded. Accepted values leave the row's properties and travel as ISO text
in `row.t`, converted by the query (`queries.TEMPORAL`).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from graphsync.connectors.falkordb.params import UnrepresentableValue

# (property name, FalkorDB function) per slot of `row.t`.
Slots = tuple[tuple[str, str], ...]


def convert(value: Any) -> tuple[str, str] | None:
    """(FalkorDB function, ISO text) for a temporal value; None for any other value."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise UnrepresentableValue("a date-time with a time zone (FalkorDB has local date-times only)")
        if value.microsecond:
            raise UnrepresentableValue("a date-time with a fraction of a second (FalkorDB keeps whole seconds)")
        return "localdatetime", value.isoformat()
    if isinstance(value, date):
        return "date", value.isoformat()
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise UnrepresentableValue("a time with a time zone (FalkorDB has local times only)")
        if value.microsecond:
            raise UnrepresentableValue("a time with a fraction of a second (FalkorDB keeps whole seconds)")
        return "localtime", value.isoformat()
    if isinstance(value, list) and any(isinstance(item, date | time) for item in value):
        raise UnrepresentableValue("a list of temporal values (FalkorDB cannot build one from parameters)")
    return None


def split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Slots]:
    """Rows whose temporal properties moved from `props` to `row.t`, and the slots they fill.

    Rows without temporal values are returned unchanged (the common case costs
    one type check per property).
    """
    found: dict[tuple[str, str], None] = {}
    converted: list[dict[str, tuple[str, str]]] = []
    for row in rows:
        temporal = {}
        for name, value in row.get("props", {}).items():
            if isinstance(value, date | time | list):
                try:
                    slot = convert(value)
                except UnrepresentableValue as exc:
                    raise UnrepresentableValue(f"property {name!r} is {exc}") from None
                if slot is not None:
                    temporal[name] = slot
                    found[(name, slot[0])] = None
        converted.append(temporal)
    if not found:
        return rows, ()
    slots: Slots = tuple(found)
    index = {slot: i for i, slot in enumerate(slots)}
    out = []
    for row, temporal in zip(rows, converted, strict=True):
        values: list[str | None] = [None] * len(slots)
        for name, (function, text) in temporal.items():
            values[index[(name, function)]] = text
        props = {k: v for k, v in row.get("props", {}).items() if k not in temporal}
        out.append({**row, "props": props, "t": values})
    return out, slots
