"""Knowing that a bidirectional pipeline's ledger is the one its sides were synced with.

The ledger says what both sides agreed on; without it, an entity on one side only is either new there or
deleted on the other, and a pass cannot tell which. A ledger can go while the graphs stay (Redis without
persistence, an eviction, a restore of one store and not the other), and a target graph can be wiped while
the ledger stays: either way, trusting what is left would copy deletes or bring deleted entities back.

So each pass checks a token kept in both places: in the ledger (an entry of its own) and on the target
graph (a `GraphsyncLedgerMark` node). The same token on both: the ledger is trusted. Different, or one
missing: the pass is careful (see `pipelines.bidirectional`), then both get a new token. Neither (a first
pass, or after a cleanup, which removes both): a new token, nothing to distrust.
"""

from __future__ import annotations

import enum
import secrets
from typing import LiteralString

from graphsync.conflicts.held import Base, Ledger
from graphsync.connectors.graphs.reading import Store

# The ledger entry holding the token: no mapping can have this entity name.
_ENTITY = _IDENT = ":mark"
READ: LiteralString = "OPTIONAL MATCH (m:GraphsyncLedgerMark {pipeline: $pipeline}) RETURN m.token"
WRITE: LiteralString = """
MERGE (m:GraphsyncLedgerMark {pipeline: $pipeline})
SET m.token = $token
RETURN m.token
"""
DELETE: LiteralString = """
MATCH (m:GraphsyncLedgerMark {pipeline: $pipeline})
DELETE m
RETURN count(m)
"""


class Trust(enum.StrEnum):
    FIRST = "first"
    TRUSTED = "trusted"
    LOST = "lost"


def judge(in_ledger: int | None, on_target: int | None) -> Trust:
    """Pure: what the two tokens say about the ledger."""
    if in_ledger is None and on_target is None:
        return Trust.FIRST
    return Trust.TRUSTED if in_ledger == on_target else Trust.LOST


def check(ledger: Ledger, target: Store, pipeline: str) -> Trust:
    base = ledger.get(_ENTITY, [_IDENT]).get(_IDENT)
    [[token]] = target.write(READ, {"pipeline": pipeline})
    return judge(base.digest if base is not None else None, int(token) if token is not None else None)


def renew(ledger: Ledger, target: Store, pipeline: str) -> None:
    """A new token in both places (the target first: a crash in between leaves them different, which the
    next pass takes as a lost ledger, the careful side)."""
    token = secrets.randbits(62)
    target.write(WRITE, {"pipeline": pipeline, "token": token})
    ledger.put(_ENTITY, {_IDENT: Base(token, {})})
