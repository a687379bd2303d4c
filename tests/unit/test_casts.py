"""Casts on plain data: each kind, what it refuses and how, and the target form FalkorDB's zone policy gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from graphsync.change import Change, Operation
from graphsync.connectors.casts import cast, flattened
from graphsync.connectors.rows import PLAIN, Form, MappingError, node_row
from graphsync.spec.casts import Cast
from graphsync.spec.endpoints import FalkorDBTarget, Neo4jTarget
from graphsync.spec.mapping import Mappings, NodeMapping
from graphsync.targets import form_of

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("2026-01-02", Cast.DATE, date(2026, 1, 2)),
        (date(2026, 1, 2), Cast.DATE, date(2026, 1, 2)),
        ("2026-01-02T03:04:05.123456", Cast.LOCAL_DATE_TIME, datetime(2026, 1, 2, 3, 4, 5, 123456)),
        ("2026-01-02T03:04:05+02:00", Cast.DATE_TIME, datetime(2026, 1, 2, 3, 4, 5, tzinfo=PLUS_TWO)),
        ("03:04:05", Cast.LOCAL_TIME, time(3, 4, 5)),
        ("42", Cast.INTEGER, 42),
        (42.0, Cast.INTEGER, 42),
        ("1.5", Cast.FLOAT, 1.5),
        (3, Cast.FLOAT, 3.0),
        (12, Cast.STRING, "12"),
        (True, Cast.STRING, "true"),
        (date(2026, 1, 2), Cast.STRING, "2026-01-02"),
        ("yes", Cast.BOOLEAN, True),
        (0, Cast.BOOLEAN, False),
        ({"b": [1, 2], "a": None}, Cast.JSON, '{"a":null,"b":[1,2]}'),
        (None, Cast.DATE_TIME, None),
    ],
)
def test_a_value_is_cast_to_its_kind(value: Any, kind: Cast, expected: Any) -> None:
    assert cast(value, kind) == expected


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("02/01/2026", Cast.DATE, "'02/01/2026' is not a date (YYYY-MM-DD)"),
        ("2026-01-02T03:04:05", Cast.DATE, "is a date-time, not a date"),
        ("2026-01-02T03:04:05+02:00", Cast.LOCAL_DATE_TIME, "has a time zone; cast it as dateTime"),
        ("2026-01-02T03:04:05", Cast.DATE_TIME, "has no time zone; cast it as localDateTime"),
        (1.5, Cast.INTEGER, "1.5 is not a whole number"),
        (True, Cast.INTEGER, "is true/false, not a number"),
        ("abc", Cast.FLOAT, "'abc' is not a number"),
        ({"a": 1}, Cast.STRING, "is JSON; cast it as json or flatten"),
        ("maybe", Cast.BOOLEAN, "'maybe' is not true or false"),
    ],
)
def test_a_value_that_does_not_fit_is_refused_saying_what_was_found(value: Any, kind: Cast, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cast(value, kind)


def test_flatten_makes_a_property_of_each_member() -> None:
    assert flattened("prefs", {"theme": "dark", "notify": {"email": True, "sms": None}, "tags": ["a"]}) == {
        "prefs_theme": "dark",
        "prefs_notify_email": True,
        "prefs_tags": ["a"],
    }
    assert flattened("prefs", None) == {}
    with pytest.raises(ValueError, match="is not a JSON object"):
        flattened("prefs", [1])
    with pytest.raises(ValueError, match="member 'a-b' would make property 'prefs_a-b', not a valid name"):
        flattened("prefs", {"a-b": 1})
    with pytest.raises(ValueError, match="member 'x' is a list of objects"):
        flattened("prefs", {"x": [{"y": 1}]})


MAPPING = NodeMapping.model_validate(
    {
        "name": "customer",
        "labels": ["Customer"],
        "key": "id",
        "properties": {"rename": {"joined": "since"}, "cast": {"joined": "dateTime", "prefs": "flatten"}},
    }
)


def row_of(**data: Any) -> dict[str, Any]:
    return node_row(MAPPING, Change("customer", 1, Operation.UPSERT, 1, {"id": 1, **data}))


def test_a_row_is_cast_under_its_property_names() -> None:
    props = row_of(joined="2026-01-02T03:04:05+02:00", prefs={"theme": "dark"})["props"]
    assert props == {"id": 1, "since": datetime(2026, 1, 2, 3, 4, 5, tzinfo=PLUS_TWO), "prefs_theme": "dark"}


def test_a_cast_that_fails_is_a_poison_record_naming_the_column() -> None:
    with pytest.raises(MappingError, match=r"customer:1@1 \(upsert\): column 'joined' \(dateTime\): 'soon' is not"):
        row_of(joined="soon")
    with pytest.raises(MappingError, match=r"column 'prefs' \(flatten\): its members would overwrite"):
        row_of(prefs={"theme": 1}, prefs_theme="x")


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"properties": {"exclude": ["a"], "cast": {"a": "date"}}}, "cast: column 'a' is not a property"),
        ({"properties": {"include": ["b"], "cast": {"a": "date"}}}, "cast: column 'a' is not a property"),
        ({"properties": {"cast": {"id": "string"}}}, "the key column 'id' keeps its values"),
        ({"properties": {"cast": {"a": "timestamp"}}}, "properties.cast.a"),
    ],
)
def test_a_cast_that_cannot_apply_is_refused(node: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        Mappings.model_validate({"nodes": [{"name": "c", "labels": ["C"], "key": "id", **node}]})


def test_falkordb_with_utc_holds_a_zoned_date_time_as_the_local_one_in_utc() -> None:
    falkor: dict[str, Any] = {"url": "redis://falkordb:6379", "graph": "g"}
    utc = form_of(FalkorDBTarget.model_validate({**falkor, "zonedDateTimes": "utc"}))
    assert utc == Form(utc_local=True)
    zoned = datetime(2026, 1, 2, 3, 4, 5, tzinfo=PLUS_TWO)
    assert utc.props({"at": zoned, "day": date(2026, 1, 2), "n": 1}) == {
        "at": datetime(2026, 1, 2, 1, 4, 5),
        "day": date(2026, 1, 2),
        "n": 1,
    }
    assert utc.props({"at": datetime(2026, 1, 2, tzinfo=UTC)})["at"].tzinfo is None
    assert form_of(FalkorDBTarget.model_validate(falkor)) == PLAIN
    assert form_of(Neo4jTarget.model_validate({"uri": "bolt://neo4j:7687"})) == PLAIN
