"""The edge a watermark scan reads again (pure): what it sends again, and what it forgets."""

from __future__ import annotations

from graphsync.connectors.rescan import Position
from graphsync.connectors.slots import newer


def test_an_entity_read_again_unchanged_is_not_sent_and_a_changed_one_is() -> None:
    position = Position()
    assert not position.read_again_unchanged("a", 10, {"name": "x"}, ahead=True)
    assert position.read_again_unchanged("a", 10, {"name": "x"}, ahead=True)
    # Changed under the same watermark: sent, and remembered as it is now.
    assert not position.read_again_unchanged("a", 10, {"name": "y"}, ahead=True)
    assert position.read_again_unchanged("a", 10, {"name": "y"}, ahead=False)


def test_entities_behind_the_horizon_are_not_remembered() -> None:
    position = Position()
    assert not position.read_again_unchanged("b", 10, {"name": "x"}, ahead=False)
    assert position.seen == {}
    # One remembered while ahead and changed once behind: sent, and forgotten.
    position.read_again_unchanged("c", 10, {"name": "x"}, ahead=True)
    assert not position.read_again_unchanged("c", 11, {"name": "z"}, ahead=False)
    assert "c" not in position.seen


def test_a_rewind_goes_back_to_the_checkpoint_and_forgets_what_lies_before_it() -> None:
    position = Position(cursor=["t9", 3], safe=["t5", 1])
    position.read_again_unchanged("old", 4, {}, ahead=True)
    position.read_again_unchanged("new", 6, {}, ahead=True)
    position.rewind(10.0, oldest=5)
    assert position.cursor == ["t5", 1]
    assert set(position.seen) == {"new"}
    # Not again within half the overlap.
    position.cursor = ["t9", 3]
    position.rewind(10.0, oldest=5)
    assert position.cursor == ["t9", 3]


def test_a_tie_wins_only_where_asked_and_only_with_other_contents() -> None:
    assert newer(False) == newer(False, relationship=True) == "previous < row.version"
    assert "coalesce(digest, 0) <> row.digest" in newer(True)
    assert "none(o IN olds WHERE o._graphsync_digest = row.digest)" in newer(True, relationship=True)
