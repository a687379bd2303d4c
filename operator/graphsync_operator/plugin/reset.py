"""`kubectl graphsync reset NAME --checkpoint stream --back 100`: a checkpoint reset appended to a
SyncPipeline's spec.checkpointResets (what resets do: `graphsync.spec.resets`; how the plugin adds it:
`graphsync_operator.plugin.declared`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from graphsync.spec import errors
from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.plugin.declared import Declared
from graphsync_operator.plugin.steer import PluginError

RESETS = Declared("checkpointResets", "checkpoint reset", "--reset-name", ("Applied", "Refused"))


def default_name(now: datetime) -> str:
    """A new name per request (a name applies once), readable as when it was asked."""
    return now.strftime("reset_%Y%m%d_%H%M%S")


def document(name: str, checkpoint: str, back: int | None, forward: int | None, to: str | None) -> dict[str, Any]:
    """The spec.checkpointResets item the options ask for (pure)."""
    moves = {"back": back, "forward": forward, "to": to}
    return {"name": name, "checkpoint": checkpoint, **{key: value for key, value in moves.items() if value is not None}}


def check(spec: Mapping[str, Any], items: list[dict[str, Any]]) -> None:
    """The whole spec with the new list, as the operator's gate would take it; raises PluginError naming what
    is wrong (pure)."""
    try:
        SyncPipelineSpec.model_validate({**spec, RESETS.field: items})
    except ValidationError as exc:
        raise PluginError("; ".join(errors.messages(exc))) from None


def said(item: Mapping[str, Any]) -> str:
    """A reported reset in one line (pure)."""
    return f"checkpoint reset {item.get('name')}: {item.get('phase')}: {item.get('message') or ''}".rstrip(": ")
