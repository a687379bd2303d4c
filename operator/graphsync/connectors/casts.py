"""Casting column values to the property values a mapping declares (`graphsync.spec.casts`), pure.

A value that does not fit its cast raises ValueError with what was found and what was wanted; the caller
names the record (a poison record, dead-lettered with the reason). A value already of the kind passes (a
graph source hands over its own temporal values). Nothing is rounded or guessed: text that is not ISO is
refused, a date-time without a zone is no `dateTime`, a float with a fraction is no `integer`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from functools import partial
from typing import Any, TypeVar

from graphsync.spec import identifiers
from graphsync.spec.casts import Cast

Parsed = TypeVar("Parsed")
_TRUE, _FALSE = ("true", "t", "yes", "1"), ("false", "f", "no", "0")


def cast(value: Any, kind: Cast) -> Any:
    """The value as `kind`; None stays None (an absent property)."""
    if value is None:
        return None
    if kind is Cast.JSON:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return _CASTS[kind](value)


def flattened(name: str, value: Any) -> dict[str, Any]:
    """A JSON object's members as properties `<name>_<member>`, nested objects flattened the same way."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{_shown(value)} is not a JSON object, which flatten needs")
    out: dict[str, Any] = {}
    for member, item in value.items():
        prop = f"{name}_{member}"
        try:
            identifiers.check(prop)
        except ValueError:
            raise ValueError(f"member {member!r} would make property {prop!r}, not a valid name") from None
        if isinstance(item, Mapping):
            out.update(flattened(prop, item))
        elif isinstance(item, list) and any(isinstance(element, Mapping | list) for element in item):
            raise ValueError(f"member {member!r} is a list of objects or lists, which a property cannot hold")
        elif item is not None:
            out[prop] = item
    return out


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{_shown(value)} is a date-time, not a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) > len("YYYY-MM-DD") and _is_date_time(value):
        raise ValueError(f"{_shown(value)} is a date-time, not a date")
    return _parsed(value, date.fromisoformat, "a date (YYYY-MM-DD)")


def _is_date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _date_time(value: Any, *, zoned: bool) -> datetime:
    moment = value if isinstance(value, datetime) else _parsed(value, datetime.fromisoformat, "a date-time")
    if (moment.tzinfo is not None) != zoned:
        wrong = "has no time zone; cast it as localDateTime" if zoned else "has a time zone; cast it as dateTime"
        raise ValueError(f"{_shown(value)} {wrong}")
    return moment


def _local_time(value: Any) -> time:
    moment = value if isinstance(value, time) else _parsed(value, time.fromisoformat, "a time (HH:MM:SS)")
    if moment.tzinfo is not None:
        raise ValueError(f"{_shown(value)} has a time zone, which a local time has not")
    return moment


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is true/false, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f"{_shown(value)} is not a whole number")


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return _parsed(value, float, "a number")
    raise ValueError(f"{_shown(value)} is not a number")


def _string(value: Any) -> str:
    if isinstance(value, Mapping | list):
        raise ValueError(f"{_shown(value)} is JSON; cast it as json or flatten")
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, date | time) else str(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{_shown(value)} is not true or false")


def _parsed(value: Any, parse: Callable[[str], Parsed], wanted: str) -> Parsed:
    if not isinstance(value, str):
        raise ValueError(f"{_shown(value)} is not {wanted}")
    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"{_shown(value)} is not {wanted}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


_CASTS: dict[Cast, Callable[[Any], Any]] = {
    Cast.DATE: _date,
    Cast.LOCAL_DATE_TIME: partial(_date_time, zoned=False),
    Cast.DATE_TIME: partial(_date_time, zoned=True),
    Cast.LOCAL_TIME: _local_time,
    Cast.INTEGER: _integer,
    Cast.FLOAT: _float,
    Cast.STRING: _string,
    Cast.BOOLEAN: _boolean,
}
