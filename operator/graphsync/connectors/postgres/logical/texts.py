"""Column values from the text form pgoutput sends to the JSON form `to_jsonb` gives, for the common types
(pure).

Every change must reach the target in the one form snapshot reads and triggers give (PostgreSQL's
`to_jsonb`), or the same row read two ways would differ. PostgreSQL can type any value back
(`jsonb_populate_record`), at the cost of a round trip per batch and of a second encoding; for the types
below the form is known and is built here. A relation with any other type (dates, arrays, `json`, ...)
goes the PostgreSQL way, whole.

What `to_jsonb` does with them: integers, text and booleans as such; `numeric` as a JSON number, read back
as an integer when it has no fraction; `double precision` and `real` through `numeric` (so `1e+20` is the
integer 100000000000000000000 and `1.5e-07` a float), NaN and the infinities as strings; `jsonb` as the
value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from graphsync.connectors.postgres.logical import pgoutput

_NOT_NUMBERS = frozenset({"NaN", "Infinity", "-Infinity"})


def _boolean(text: str) -> bool:
    # pgoutput sends the output function's `t`/`f`; `::text` would say `true`.
    return text in ("t", "true")


def _float(text: str) -> Any:
    if text in _NOT_NUMBERS:
        return text
    if "e" not in text:
        # The shortest text that reads back the same: a point only where there is a fraction.
        return float(text) if "." in text else int(text)
    number = Decimal(text)
    exponent = number.as_tuple().exponent
    return int(number) if isinstance(exponent, int) and exponent >= 0 else float(text)


def _numeric(text: str) -> Any:
    if text in _NOT_NUMBERS:
        return text
    return float(text) if "." in text else int(text)


# By type oid. json (114) keeps its text as written (`1e2`, spaces, key order), which jsonb would normalise,
# so it is not here.
_TYPES: dict[int, Callable[[Any], Any]] = {
    16: _boolean,
    20: int,
    21: int,
    23: int,
    25: str,
    1043: str,
    700: _float,
    701: _float,
    1700: _numeric,
    3802: json.loads,
}


@dataclass(frozen=True)
class Layout:
    """How a relation's tuple becomes a mapped row: per key, in jsonb's order (shorter first, then bytewise,
    as a document from PostgreSQL has them), the value's place in the tuple (None: the column was not sent,
    so null) and its converter."""

    fields: tuple[tuple[str, int | None, Callable[[Any], Any]], ...]


def layout(columns: Sequence[pgoutput.Column], how: str, listed: Sequence[str]) -> Layout | None:
    """The layout of the columns a mapping takes (`how` keep or drop the `listed` ones, see Columns.listing),
    or None when one of their types is not known here."""
    place = {column.name: i for i, column in enumerate(columns)}
    wanted = list(listed) if how == "keep" else [c.name for c in columns if c.name not in listed]
    fields = []
    for name in sorted(wanted, key=_jsonb_order):
        at = place.get(name)
        convert = _TYPES.get(columns[at].type_oid) if at is not None else str
        if convert is None:
            return None
        fields.append((name, at, convert))
    return Layout(tuple(fields))


def typed(layout: Layout, values: pgoutput.Tuple) -> dict[str, Any] | None:
    """The row's values as `to_jsonb` gives them; None when a value was not sent (an unchanged TOASTed one:
    the row must be read again)."""
    row: dict[str, Any] = {}
    for name, at, convert in layout.fields:
        value = None if at is None else values[at]
        if value is pgoutput.UNCHANGED:
            return None
        row[name] = None if value is None else convert(value)
    return row


def _jsonb_order(name: str) -> tuple[int, bytes]:
    encoded = name.encode()
    return len(encoded), encoded
