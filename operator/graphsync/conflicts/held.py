"""What a bidirectional pipeline keeps between passes, whatever stores it: the ledger's bases, and the
conflicts a manual policy holds (one record per entity, kept after it is settled, for the record)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Owed:
    """A pass wrote its decision to one side and the other refused it: which side still owes the write, and
    what that side held then (its digest, None: absent; its data, a later merge's base for that side)."""

    side: str
    digest: int | None
    data: Mapping[str, Any] | None


# Where a ledger record keeps an `Owed` inside the base's data: no property can have this name.
_OWED = ":owed"


@dataclass(frozen=True)
class Base:
    """What both sides held after the last sync of an entity: its digest, and its data (a merge's base);
    `owed`: one side has not taken it yet (see `conflicts.decision.decide_owing`)."""

    digest: int
    data: Mapping[str, Any]
    owed: Owed | None = None

    def stored(self) -> dict[str, Any]:
        """The data as a ledger stores it, with what is owed inside."""
        if self.owed is None:
            return dict(self.data)
        return {**self.data, _OWED: {"side": self.owed.side, "digest": self.owed.digest, "data": self.owed.data}}

    @classmethod
    def of(cls, digest: int, stored: Mapping[str, Any]) -> Base:
        data = dict(stored)
        owed = data.pop(_OWED, None)
        if owed is None:
            return cls(digest, data)
        return cls(digest, data, Owed(str(owed["side"]), owed["digest"], owed["data"]))


class Ledger(Protocol):
    def get(self, entity: str, idents: Sequence[str]) -> dict[str, Base]: ...
    def idents(self, entity: str) -> Iterator[str]: ...
    def put(self, entity: str, bases: Mapping[str, Base]) -> None: ...
    def drop(self, entity: str, idents: Sequence[str]) -> None: ...


# Who settles a conflict both sides resolved on their own, in the record.
ENGINE = "graphsync"


@dataclass(frozen=True)
class HeldConflict:
    """Both versions of an entity a manual policy holds, and the base they diverged from (None: absent)."""

    id: str
    entity: str
    key: Any
    ident: str
    source: Mapping[str, Any] | None
    target: Mapping[str, Any] | None
    base: Mapping[str, Any] | None
    detected_at: str
    # What the entity is besides its properties (a relationship's ends), to write a settled version back.
    shape: Mapping[str, Any]
    status: str = "open"
    resolved_at: str | None = None
    choice: str | None = None
    # Why it is held: the manual policy, or a value the policy's merge rule cannot combine.
    reason: str = ""
    # Who settled it (a person's name, or the engine when both sides came to agree) and why, for the record.
    resolved_by: str | None = None
    note: str | None = None


def conflict_id(ident: str) -> str:
    """Stable per entity, so a conflict seen again by the next pass is the same record."""
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


class HeldConflicts(ABC):
    """The rules of holding and settling; a store provides loading and saving records."""

    @abstractmethod
    def _load(self, conflict: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def _save(self, record: dict[str, Any]) -> None: ...

    @abstractmethod
    def _all(self) -> list[dict[str, Any]]: ...

    def hold(
        self,
        entity: str,
        key: Any,
        ident: str,
        versions: Mapping[str, Mapping[str, Any] | None],
        *,
        shape: Mapping[str, Any],
        reason: str = "",
    ) -> None:
        """Record a held conflict (`versions`: source, target, base); one already held keeps when it was detected."""
        held = self.get(conflict_id(ident))
        still_open = held.detected_at if held is not None and held.status == "open" else None
        record = HeldConflict(
            id=conflict_id(ident),
            entity=entity,
            key=key,
            ident=ident,
            source=versions["source"],
            target=versions["target"],
            base=versions["base"],
            detected_at=still_open or now(),
            shape=shape,
            reason=reason,
        )
        self._save(asdict(record))

    def get(self, conflict: str) -> HeldConflict | None:
        record = self._load(conflict)
        return HeldConflict(**record) if record is not None else None

    def list(self, *, include_resolved: bool = False) -> list[HeldConflict]:
        records = [HeldConflict(**record) for record in self._all()]
        chosen = [r for r in records if include_resolved or r.status == "open"]
        return sorted(chosen, key=lambda record: (record.detected_at, record.id))

    def settle(self, conflict: str, choice: str, *, by: str, note: str | None = None) -> None:
        """Mark a conflict resolved (`choice`: source, target, data, or converged when both sides came to agree)
        by someone (`by`), with their `note`."""
        held = self.get(conflict)
        if held is not None:
            self._save(
                {
                    **asdict(held),
                    "status": "resolved",
                    "resolved_at": now(),
                    "choice": choice,
                    "resolved_by": by,
                    "note": note,
                }
            )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
