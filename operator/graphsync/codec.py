"""JSON for values that JSON has no type for: dates, date-times and times keep their type through a round trip.

Checkpoints (watermark positions) and the dead-letter store on Redis keep
values read from graphs; a date-time stored as plain text would come back as a
string and be written as one.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

_TAGS = {"$datetime": datetime.fromisoformat, "$date": date.fromisoformat, "$time": time.fromisoformat}


def tagged(value: Any) -> Any:
    """`value` with every temporal value replaced by a one-key tag object, ready for `json.dumps`."""
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, dict):
        return {name: tagged(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [tagged(item) for item in value]
    return value


def untagged(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            [(tag, text)] = value.items()
            if tag in _TAGS and isinstance(text, str):
                return _TAGS[tag](text)
        return {name: untagged(item) for name, item in value.items()}
    if isinstance(value, list):
        return [untagged(item) for item in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(tagged(value))


def loads(text: str | bytes) -> Any:
    return untagged(json.loads(text))
