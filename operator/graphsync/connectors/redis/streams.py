"""Redis Streams as the transport: partitioned streams, consumer groups, reclaiming dead consumers' work.

Redis is a transport, not the source of truth: the outbox keeps every event
until a consumer confirms it, so a flushed or restarted Redis loses nothing.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from graphsync.change import Change, Operation

# Entries fields; the payload travels as JSON so any source's row shape fits.
_FIELDS = ("entity", "key", "op", "version", "data", "correlation_id", "origin")


def partition_of(entity: str, key: Any, partitions: int) -> int:
    """Stable across processes and restarts (unlike `hash()`), so one entity keeps one partition."""
    return zlib.crc32(json.dumps([entity, key], separators=(",", ":"), default=str).encode()) % partitions


def encode(change: Change) -> dict[str, str]:
    return {
        "entity": change.entity,
        "key": json.dumps(change.key),
        "op": change.op.value,
        "version": str(change.version),
        "data": json.dumps(dict(change.data), default=str),
        "correlation_id": change.correlation_id or "",
        "origin": change.origin or "",
    }


def decode(fields: dict[str, str]) -> Change:
    """Raises ValueError (naming the field) for an entry that is not a change."""
    missing = [name for name in _FIELDS if name not in fields]
    if missing:
        raise ValueError(f"stream entry lacks field(s) {missing}")
    try:
        return Change(
            entity=fields["entity"],
            key=json.loads(fields["key"]),
            op=Operation(fields["op"]),
            version=int(fields["version"]),
            data=json.loads(fields["data"]),
            correlation_id=fields["correlation_id"] or None,
            origin=fields["origin"] or None,
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"stream entry is malformed: {exc}") from exc


@dataclass(frozen=True)
class Streams:
    """The partitioned streams of one pipeline."""

    prefix: str
    partitions: int

    def names(self) -> list[str]:
        return [f"{self.prefix}:{i}" for i in range(self.partitions)]

    def name_for(self, change: Change) -> str:
        return f"{self.prefix}:{partition_of(change.entity, change.key, self.partitions)}"


def publish(client: redis.Redis, streams: Streams, changes: Sequence[Change], *, max_length: int) -> None:
    """XADD every change in one round trip; `max_length` bounds Redis memory (trimming is safe: see module doc)."""
    pipe = client.pipeline(transaction=False)
    for change in changes:
        pipe.xadd(streams.name_for(change), encode(change), maxlen=max_length, approximate=True)  # type: ignore[arg-type]
    pipe.execute()


def drained(client: redis.Redis, streams: Streams, group: str) -> bool:
    """Whether `group` has read and acknowledged every entry of the pipeline's streams.

    Only then can an event published but never completed have been lost by Redis (flushed, failed over,
    trimmed); while the consumer is behind or holds entries (a target outage) they are all still there,
    and publishing them again would only pile copies onto the streams.
    """
    for name in streams.names():
        try:
            groups: Any = client.xinfo_groups(name)
        except redis.ResponseError:
            return True  # the stream is gone
        if not group_drained(next((g for g in groups if text(g.get("name")) == group), None)):
            return False
    return True


def group_info(client: redis.Redis, stream: str, group: str) -> dict[str, Any] | None:
    """What XINFO GROUPS says of `group` on `stream`; None when the stream or the group is not there."""
    try:
        groups: Any = client.xinfo_groups(stream)
    except redis.ResponseError:
        return None  # no stream
    return next((info for info in groups if text(info.get("name")) == group), None)


def create_group(client: redis.Redis, stream: str, group: str) -> None:
    """`group` reading from the start of `stream` (made with it when missing); a group already there is kept."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def group_drained(info: Mapping[str, Any] | None) -> bool:
    """One stream's group, as XINFO GROUPS tells it: nothing pending and nothing left to read. A missing group,
    or a lag Redis cannot tell (entries deleted past the group's position), counts as drained: what it had
    may be lost."""
    if info is None:
        return True
    if int(info.get("pending") or 0) > 0:
        return False
    lag = info.get("lag")
    return lag is None or int(lag) == 0


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to this consumer."""

    stream: str
    entry_id: str
    fields: dict[str, str]


class GroupReader:
    """Reads a pipeline's streams as one consumer of a consumer group."""

    def __init__(self, client: redis.Redis, streams: Streams, *, group: str, consumer: str, claim_idle_ms: int) -> None:
        self._client = client
        self._streams = streams
        self._group = group
        self._consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        # After a restart, first finish what this consumer had taken but not acknowledged.
        self._own_backlog = True

    def ensure_groups(self) -> None:
        """Create missing groups (also after Redis lost them) reading from the start of each stream."""
        for name in self._streams.names():
            create_group(self._client, name, self._group)

    def read(self, count: int, block_ms: int) -> list[Delivery]:
        try:
            return self._read(count, block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_groups()
            return []

    def _read(self, count: int, block_ms: int) -> list[Delivery]:
        if self._own_backlog:
            own = self._xreadgroup(dict.fromkeys(self._streams.names(), "0"), count, None)
            if own:
                return own
            self._own_backlog = False
        claimed = self._claim(count)
        if claimed:
            return claimed
        return self._xreadgroup(dict.fromkeys(self._streams.names(), ">"), count, block_ms)

    def _xreadgroup(self, ids: dict[str, str], count: int, block_ms: int | None) -> list[Delivery]:
        # COUNT applies to each stream: share the batch size out so a read never exceeds it.
        per_stream = max(1, count // len(ids))
        reply: Any = self._client.xreadgroup(self._group, self._consumer, ids, count=per_stream, block=block_ms)  # type: ignore[arg-type]
        return [
            Delivery(stream=text(stream), entry_id=text(entry_id), fields=_fields(fields))
            for stream, entries in reply or []
            for entry_id, fields in entries
            # Trimmed entries still listed in the pending list come back without fields.
            if fields
        ]

    def _claim(self, count: int) -> list[Delivery]:
        """Take over entries other consumers left idle too long (they died or hang).

        Never this consumer's own: those may still wait in its queue behind a slow
        sink, and taking them again would only apply them twice.
        """
        names = self._streams.names()
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.xpending(name, self._group)
        found: list[Delivery] = []
        for name, summary in zip(names, pipe.execute(), strict=True):
            for owner in summary["consumers"]:
                consumer = text(owner["name"])
                if consumer == self._consumer or len(found) >= count:
                    continue
                idle: Any = self._client.xpending_range(
                    name, self._group, "-", "+", count - len(found), consumername=consumer, idle=self._claim_idle_ms
                )
                ids = [entry["message_id"] for entry in idle]
                if not ids:
                    continue
                # XCLAIM checks the idle time again, so two consumers never both take an entry.
                claimed: Any = self._client.xclaim(name, self._group, self._consumer, self._claim_idle_ms, ids)
                found.extend(
                    Delivery(stream=name, entry_id=text(entry_id), fields=_fields(fields))
                    for entry_id, fields in claimed
                    if fields
                )
        return found

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        by_stream: dict[str, list[str]] = {}
        for delivery in deliveries:
            by_stream.setdefault(delivery.stream, []).append(delivery.entry_id)
        pipe = self._client.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self._group, *ids)
        pipe.execute()


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str]:
    return {text(k): text(v) for k, v in dict(raw).items()}
