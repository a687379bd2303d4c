"""A snapshot's checkpoints, the same whatever its source: the run's own state under `snapshot` (its version,
its epoch, whether it completed) and each entity type's read position under `snapshot:<entity>`, marked done
once the type was read whole, so a snapshot that stopped resumes each type where it was."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphsync.runner.contracts import Checkpoints

STATE = "snapshot"


def state(checkpoints: Checkpoints) -> dict[str, Any]:
    return checkpoints.get(STATE) or {}


def restart(checkpoints: Checkpoints, entities: Iterable[str], new: Mapping[str, Any]) -> None:
    """A new snapshot, `new` its state: every entity type is read again from the start."""
    for entity in entities:
        checkpoints.delete(_position_name(entity))
    checkpoints.put(STATE, dict(new))


def position(checkpoints: Checkpoints, entity: str) -> dict[str, Any]:
    return checkpoints.get(_position_name(entity)) or {}


def keep_position(checkpoints: Checkpoints, entity: str, at: Any) -> None:
    checkpoints.put(_position_name(entity), at)


def done(checkpoints: Checkpoints, entities: Iterable[str]) -> bool:
    """Whether every entity type was read whole."""
    return all(position(checkpoints, entity).get("done") for entity in entities)


def _position_name(entity: str) -> str:
    return f"{STATE}:{entity}"
