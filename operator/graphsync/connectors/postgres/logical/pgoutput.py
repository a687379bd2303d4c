"""The `pgoutput` logical replication messages (protocol version 1), decoded into plain values (pure).

PostgreSQL's built-in output plugin, so every server with `wal_level=logical` has it (managed ones
included), unlike wal2json or decoderbufs. Each message is one row of
`pg_logical_slot_peek_binary_changes`: Begin, Relation (a table's columns, sent before its first change
in a session and again when it changes), Insert, Update, Delete, Truncate and Commit; Type and Origin
messages are read past. Column values arrive in their text form (see `Tuple`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

# A column value the server did not send: a TOASTed value an UPDATE left unchanged.
UNCHANGED = object()
# PostgreSQL's timestamps count microseconds from 2000-01-01 UTC; this is that moment in Unix seconds.
POSTGRES_EPOCH = 946_684_800


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    namespace: str
    name: str
    # d: default (primary key), n: nothing, f: full, i: an index.
    replica_identity: str
    columns: tuple[Column, ...]

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"


# A tuple's values by column, in the relation's order: text, None (SQL NULL) or UNCHANGED.
Tuple = tuple[object, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    xid: int
    # When the transaction committed, in seconds since the Unix epoch (the server's clock).
    committed_at: float = 0.0


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int


@dataclass(frozen=True)
class Insert:
    relation: int
    new: Tuple


@dataclass(frozen=True)
class Update:
    relation: int
    new: Tuple
    # The old key (REPLICA IDENTITY DEFAULT/INDEX, sent only when the key changed) or the old row (FULL).
    old: Tuple | None = None


@dataclass(frozen=True)
class Delete:
    relation: int
    old: Tuple


@dataclass(frozen=True)
class Truncate:
    relations: tuple[int, ...]


@dataclass(frozen=True)
class Skipped:
    """A message the capture has no use for (Type, Origin, logical decoding messages)."""

    kind: str


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Skipped


class DecodeError(ValueError):
    """Bytes that are not a pgoutput protocol 1 message."""


_STRUCTS: dict[str, struct.Struct] = {}
_COUNT, _SIZE = struct.Struct("!H"), struct.Struct("!I")
_NULL, _UNCHANGED, _TEXT = ord("n"), ord("u"), ord("t")


class _Reader:
    """Reads one message from its start; every read checks the bytes are there (DecodeError otherwise).

    Tuples are read in one tight loop with precompiled structs: at thousands of rows a second, the
    decoder is the capture's hottest code in Python.
    """

    def __init__(self, data: bytes, at: int) -> None:
        self.data = data
        self.at = at

    def take(self, fmt: str) -> int:
        compiled = _STRUCTS.get(fmt) or _STRUCTS.setdefault(fmt, struct.Struct(fmt))
        if self.at + compiled.size > len(self.data):
            raise DecodeError(f"message ends at byte {len(self.data)}, expected {compiled.size} more at {self.at}")
        (value,) = compiled.unpack_from(self.data, self.at)
        self.at += compiled.size
        return int(value)

    def byte(self) -> str:
        return chr(self.take("!B"))

    def string(self) -> str:
        end = self.data.find(b"\0", self.at)
        if end < 0:
            raise DecodeError(f"unterminated string at byte {self.at}")
        text = self.data[self.at : end].decode()
        self.at = end + 1
        return text

    def tuple(self) -> Tuple:
        data, at, end = self.data, self.at, len(self.data)
        try:
            (count,) = _COUNT.unpack_from(data, at)
            at += 2
            values: list[object] = []
            for _ in range(count):
                kind = data[at]
                at += 1
                if kind == _TEXT:
                    (size,) = _SIZE.unpack_from(data, at)
                    at += 4
                    if at + size > end:
                        raise DecodeError(f"value of {size} bytes runs past the message end")
                    values.append(data[at : at + size].decode())
                    at += size
                elif kind == _NULL:
                    values.append(None)
                elif kind == _UNCHANGED:
                    values.append(UNCHANGED)
                else:
                    raise DecodeError(f"unknown tuple value kind {chr(kind)!r} (binary mode is not asked for)")
        except (struct.error, IndexError) as exc:
            raise DecodeError(f"message ends at byte {end} inside a tuple") from exc
        self.at = at
        return tuple(values)


def decode(data: bytes) -> Message:
    """One message; raises DecodeError naming what is wrong."""
    if not data:
        raise DecodeError("empty message")
    kind = chr(data[0])
    if kind in "YOM":
        return Skipped(kind)
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise DecodeError(f"unknown message kind {kind!r}")
    return decoder(_Reader(bytes(data), 1))


def _begin(reader: _Reader) -> Begin:
    final_lsn = reader.take("!Q")
    committed_at = POSTGRES_EPOCH + reader.take("!q") / 1_000_000
    return Begin(final_lsn=final_lsn, xid=reader.take("!I"), committed_at=committed_at)


def _commit(reader: _Reader) -> Commit:
    reader.take("!B")  # flags
    return Commit(commit_lsn=reader.take("!Q"), end_lsn=reader.take("!Q"))


def _insert(reader: _Reader) -> Insert:
    relation = reader.take("!I")
    _expect(reader, "N")
    return Insert(relation=relation, new=reader.tuple())


def _delete(reader: _Reader) -> Delete:
    relation = reader.take("!I")
    marker = reader.byte()
    if marker not in "KO":
        raise DecodeError(f"delete: expected K or O, found {marker!r}")
    return Delete(relation=relation, old=reader.tuple())


def _truncate(reader: _Reader) -> Truncate:
    count = reader.take("!I")
    reader.take("!B")  # options: CASCADE, RESTART IDENTITY
    return Truncate(relations=tuple(reader.take("!I") for _ in range(count)))


def _relation(reader: _Reader) -> Relation:
    oid = reader.take("!I")
    namespace = reader.string() or "pg_catalog"
    name = reader.string()
    identity = reader.byte()
    columns = []
    for _ in range(reader.take("!H")):
        flags = reader.take("!B")
        column = reader.string()
        type_oid = reader.take("!I")
        reader.take("!i")  # type modifier
        columns.append(Column(name=column, type_oid=type_oid, key=bool(flags & 1)))
    return Relation(oid=oid, namespace=namespace, name=name, replica_identity=identity, columns=tuple(columns))


def _update(reader: _Reader) -> Update:
    relation = reader.take("!I")
    marker = reader.byte()
    old = None
    if marker in "KO":
        old = reader.tuple()
        marker = reader.byte()
    if marker != "N":
        raise DecodeError(f"update: expected N, found {marker!r}")
    return Update(relation=relation, new=reader.tuple(), old=old)


def lsn_value(lsn: str) -> int:
    """An LSN as PostgreSQL prints it (`16/B374D848`) as a number (pure)."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def lsn_text(value: int) -> str:
    """An LSN as PostgreSQL writes it: 16/B374D848."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _expect(reader: _Reader, marker: str) -> None:
    found = reader.byte()
    if found != marker:
        raise DecodeError(f"expected {marker!r}, found {found!r}")


_DECODERS: dict[str, Callable[[_Reader], Message]] = {
    "B": _begin,
    "C": _commit,
    "R": _relation,
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
}
