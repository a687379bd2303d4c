"""Version epochs (pure): stamping, and when a worker's numbering needs a new epoch."""

from __future__ import annotations

import pytest

from graphsync.change import EPOCH_SHIFT, MAX_EPOCH, Change, Operation, epoch_of, stamp, stamped
from graphsync.connectors.postgres.numbering import numbering, scheme_name
from graphsync.epochs import Recorded, Scheme, decide
from graphsync.spec.pipeline import PipelineSpec

SNAPSHOT_TIME = 1_733_000_000_000_000  # microseconds: what a snapshot numbered by its start time writes


def test_any_version_of_a_later_epoch_is_above_every_version_of_the_epochs_before() -> None:
    assert stamp(1, 1) > SNAPSHOT_TIME > stamp(0, 5_000)
    assert stamp(2, 0) > stamp(1, (1 << EPOCH_SHIFT) - 1)
    assert stamp(MAX_EPOCH, (1 << EPOCH_SHIFT) - 1) == (1 << 63) - 1
    assert epoch_of(stamp(7, 123)) == 7


def test_epoch_zero_and_the_reset_mark_leave_versions_as_they_were() -> None:
    assert stamp(0, SNAPSHOT_TIME) == SNAPSHOT_TIME
    assert stamp(3, -1) == -1


def test_stamping_is_idempotent_so_a_replayed_dead_letter_keeps_its_version() -> None:
    once = stamp(2, 41)
    assert stamp(2, once) == once
    # A repair one above an entity of an older epoch stays in that epoch: above the entity, below the new writes.
    assert stamp(3, stamp(2, 41) + 1) == stamp(2, 42)


def test_stamped_changes_keep_everything_but_the_version() -> None:
    change = Change("Customer", 1, Operation.UPSERT, 10, {"id": 1}, origin="1-0")
    [again] = stamped([change], 1)
    assert again.version == stamp(1, 10)
    assert (again.entity, again.key, again.data, again.origin) == ("Customer", 1, {"id": 1}, "1-0")
    assert stamped([change], 0) == [change]


def test_a_target_without_a_record_keeps_epoch_zero() -> None:
    # Written before epochs existed: its versions are epoch 0's, so the pipeline goes on with them unchanged.
    assert decide(None, Scheme("outbox@1/16384", 500)) == (Recorded(0, "outbox@1/16384", 500), None)


def test_the_same_numbering_further_on_keeps_its_epoch() -> None:
    chosen, reason = decide(Recorded(2, "wal@1", 500), Scheme("wal@1", 900))
    assert (chosen, reason) == (Recorded(2, "wal@1", 900), None)


@pytest.mark.parametrize(
    ("recorded", "wanted", "why"),
    [
        # mode snapshot switched to continuous: start times, then outbox ids
        (Recorded(0, "snapshot-time", 100), Scheme("outbox@1/16384", 200), "numbering changed"),
        # the engine schema dropped and made again: a new outbox table, ids from 1
        (Recorded(1, "outbox@1/16384", 100), Scheme("outbox@1/20001", 200), "numbering changed"),
        # restored into a new cluster
        (Recorded(1, "wal@1", 100), Scheme("wal@2", 200), "numbering changed"),
        # restored in place: the WAL went back
        (Recorded(1, "wal@1", 900), Scheme("wal@1", 400), "behind the 900"),
    ],
)
def test_a_new_numbering_or_a_source_gone_back_in_time_takes_the_next_epoch(
    recorded: Recorded, wanted: Scheme, why: str
) -> None:
    chosen, reason = decide(recorded, wanted)
    assert chosen == Recorded(recorded.epoch + 1, wanted.name, wanted.position)
    assert reason is not None
    assert why in reason


def test_running_out_of_epochs_is_an_error_that_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="used all 2047 version epochs; rebuild the target"):
        decide(Recorded(MAX_EPOCH, "wal@1", 1), Scheme("outbox@1/2", 1))


@pytest.mark.parametrize(
    ("mode", "capture", "watermark", "kind"),
    [
        ("snapshot", "triggers", None, "snapshot-time"),
        ("incremental", "triggers", "updated_at", "watermark:updated_at"),
        ("continuous", "triggers", None, "outbox"),
        ("snapshotThenStream", "outbox", None, "outbox"),
        ("continuous", "logical", None, "wal"),
        ("snapshotThenStream", "logical", None, "wal"),
    ],
)
def test_each_mode_and_capture_numbers_by_one_kind(mode: str, capture: str, watermark: str | None, kind: str) -> None:
    postgres: dict[str, object] = {"url": "postgresql://app@db/shop", "capture": capture}
    if watermark:
        postgres["watermarkColumn"] = watermark
    document = {
        "name": "shop",
        "mode": mode,
        "source": {"postgres": postgres},
        "target": {"neo4j": {"uri": "bolt://n:7687"}},
        "mappings": {"nodes": [{"name": "customer", "table": "app.customer", "labels": ["Customer"], "key": "id"}]},
    }
    if capture != "logical" and mode != "snapshot":
        document["transport"] = {"redisStreams": {"url": "redis://r:6379/0"}}
    spec = PipelineSpec.model_validate(document)
    assert numbering(spec) == kind


def test_positions_name_their_instance_and_times_do_not() -> None:
    assert scheme_name("wal", "7715", 16384) == "wal@7715"
    assert scheme_name("outbox", "7715", 16384) == "outbox@7715/16384"
    assert scheme_name("snapshot-time", "7715", None) == "snapshot-time"
