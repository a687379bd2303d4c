"""The position of a trigger or outbox pipeline: its consumer group on each of its Redis streams.

Back: the group's position on each stream goes to just before the last N entries it was handed (the newest
N across the streams, by entry id: the order they were published in), so they are read again; the target's
version guard makes reading one twice harmless, so what they wrote is written again exactly. Forward: the
changes captured so far are published first (so none waits in the outbox uncounted), then the next N entries
are passed over and their outbox events marked completed with the reset's name as the reason: the relay
never publishes them again. Only entries the streams still hold can be read again (`maxStreamLength`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import redis

from graphsync import relaying
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.redis.streams import create_group, group_info, text
from graphsync.resets.moves import Move
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.resets import END, START, CheckpointReset

ORIGIN = "origin"
# Entries read per round trip while marking skipped ones done.
CHUNK = 1000
ZERO = "0-0"
Entry = tuple[str, dict[str, str]]


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id in publishing order (pure): milliseconds, then sequence."""
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


def pick(candidates: Mapping[str, Sequence[str]], count: int, *, newest: bool) -> dict[str, list[str]]:
    """The `count` newest (or oldest) entry ids over all streams, by stream (pure)."""
    ordered = sorted(
        ((entry_key(entry), stream, entry) for stream, entries in candidates.items() for entry in entries),
        reverse=newest,
    )
    chosen: dict[str, list[str]] = {}
    for _, stream, entry in ordered[:count]:
        chosen.setdefault(stream, []).append(entry)
    return chosen


def counted(read: int | None, change: int) -> int | None:
    """A group's entries-read counter moved by `change` entries; unknown stays unknown (pure)."""
    return None if read is None else max(0, read + change)


class Groups:
    def __init__(self, spec: PipelineSpec, client: redis.Redis, conn: psycopg.Connection[Any]) -> None:
        self._spec = spec
        self._client = client
        self._conn = conn
        self._group = relaying.group_of(spec)
        self._names = relaying.streams_of(spec).names()

    def plan(self, reset: CheckpointReset) -> Move:
        if reset.forward is not None or reset.to == END:
            relay = relaying.Relaying.of(self._spec, self._client)
            try:
                relay.publish_all(self._spec.batch_size)
            finally:
                relay.close()
        before = {name: self._state(name) for name in self._names}
        if reset.back is not None:
            return self._back(before, reset.back)
        if reset.forward is not None:
            return self._forward(before, reset.forward)
        if reset.to == START:
            after = {name: {"id": ZERO, "entriesRead": 0} for name in before}
            again = sum(int(state["entriesRead"] or 0) for state in before.values())
            return Move(before, after, again, f"every change the streams still hold is read again ({again})")
        return self._to_end(before)

    def apply(self, reset: CheckpointReset, move: Move) -> None:
        for name, after in move.after.items():
            position = move.before[name]["id"]
            if entry_key(after["id"]) > entry_key(position):
                self._skip(name, position, after["id"], f"skipped by checkpoint reset {reset.name}")
            self._client.xgroup_setid(name, self._group, after["id"], entries_read=after["entriesRead"])

    def _state(self, name: str) -> dict[str, Any]:
        info = group_info(self._client, name, self._group)
        if info is not None:
            read = info.get("entries-read")
            return {"id": text(info.get("last-delivered-id")), "entriesRead": None if read is None else int(read)}
        # Never read yet: the group the workers would make, at the start of the stream.
        create_group(self._client, name, self._group)
        return {"id": ZERO, "entriesRead": 0}

    def _back(self, before: dict[str, dict[str, Any]], count: int) -> Move:
        candidates = {
            name: [entry for entry, _ in self._range(name, state["id"], "-", count, newest=True)]
            for name, state in before.items()
            if state["id"] != ZERO
        }
        chosen = pick(candidates, count, newest=True)
        after = {}
        for name, state in before.items():
            entries = chosen.get(name)
            if not entries:
                after[name] = state
                continue
            oldest = min(entries, key=entry_key)
            previous = self._range(name, f"({oldest}", "-", 1, newest=True)
            after[name] = {
                "id": previous[0][0] if previous else ZERO,
                "entriesRead": counted(state["entriesRead"], -len(entries)),
            }
        again = sum(len(entries) for entries in chosen.values())
        short = "" if again == count else f" (the streams still held only {again})"
        return Move(before, after, again, f"the last {again} change(s) are read again{short}")

    def _forward(self, before: dict[str, dict[str, Any]], count: int) -> Move:
        candidates = {
            name: [entry for entry, _ in self._range(name, f"({state['id']}", "+", count)]
            for name, state in before.items()
        }
        chosen = pick(candidates, count, newest=False)
        after = {}
        for name, state in before.items():
            entries = chosen.get(name)
            after[name] = (
                {"id": max(entries, key=entry_key), "entriesRead": counted(state["entriesRead"], len(entries))}
                if entries
                else state
            )
        skipped = sum(len(entries) for entries in chosen.values())
        short = "" if skipped == count else f" (only {skipped} were waiting)"
        return Move(before, after, skipped, f"the next {skipped} change(s) are skipped{short}")

    def _to_end(self, before: dict[str, dict[str, Any]]) -> Move:
        after = {}
        skipped = 0
        for name, state in before.items():
            newest = self._range(name, "+", "-", 1, newest=True)
            if not newest or entry_key(newest[0][0]) <= entry_key(state["id"]):
                after[name] = state
                continue
            passed = sum(len(chunk) for chunk in self._entries(name, state["id"], newest[0][0]))
            skipped += passed
            after[name] = {"id": newest[0][0], "entriesRead": counted(state["entriesRead"], passed)}
        return Move(before, after, skipped, f"every change captured so far is skipped ({skipped})")

    def _entries(self, name: str, after: str, through: str) -> Iterator[list[Entry]]:
        """The entries of one stream after `after` up to `through`, a chunk at a time."""
        position = after
        while True:
            chunk = self._range(name, f"({position}", through, CHUNK)
            if not chunk:
                return
            yield chunk
            position = chunk[-1][0]

    def _range(self, name: str, start: str, end: str, count: int, *, newest: bool = False) -> list[Entry]:
        """Up to `count` entries from `start` to `end`: oldest first, or with `newest` newest first (then
        `start` is the upper bound)."""
        found: Any = (
            self._client.xrevrange(name, max=start, min=end, count=count)
            if newest
            else self._client.xrange(name, min=start, max=end, count=count)
        )
        return [(text(entry), {text(k): text(v) for k, v in (fields or {}).items()}) for entry, fields in found or []]

    def _skip(self, name: str, after: str, through: str, reason: str) -> None:
        """Mark the outbox events of the entries passed over done, so the relay never publishes them again."""
        outbox = Outbox(self._spec.postgres.schema_, pipeline=self._spec.identity)
        for chunk in self._entries(name, after, through):
            ids = [int(fields[ORIGIN]) for _, fields in chunk if fields.get(ORIGIN, "").isdigit()]
            outbox.skip(self._conn, ids, reason)
