"""`kubectl graphsync backfill NAME --entity ...`: a backfill appended to a SyncPipeline's spec.backfills.

The operator never writes a spec, so asking for a backfill is the user's own edit, as `kubectl edit` makes
it: checked against the pipeline's mappings first (the engine's own model), then patched with the resource
version it was read at, so an edit made meanwhile is never overwritten (the patch is refused, and said so).
The workers roll with the new config, and the one that runs it reports its progress in `status.backfills`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from graphsync.spec import errors
from graphsync.spec.backfill import Backfill
from graphsync.spec.mapping import Mappings
from graphsync_operator.plugin.steer import PluginError

DONE = ("Completed", "Partial")


def default_name(now: datetime) -> str:
    """A new name per request (a name runs once), readable as when it was asked."""
    return now.strftime("backfill_%Y%m%d_%H%M%S")


def key(text: str) -> int | str:
    """A key as typed: a whole number is a number (the key type of integer columns), anything else text."""
    return int(text) if text.lstrip("-").isdigit() else text


def document(
    name: str, entities: Sequence[str], ids: Sequence[str], after: str | None, through: str | None
) -> dict[str, Any]:
    """The spec.backfills item the options ask for (pure)."""
    item: dict[str, Any] = {"name": name, "entities": list(entities)}
    if ids:
        item["ids"] = [key(text) for text in ids]
    if after is not None or through is not None:
        item["keys"] = {
            **({"after": key(after)} if after is not None else {}),
            **({"through": key(through)} if through is not None else {}),
        }
    return item


def appended(pipeline: Mapping[str, Any], item: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's spec.backfills with `item` added; raises PluginError naming what would not run (pure)."""
    spec = pipeline.get("spec") or {}
    present = list(spec.get("backfills") or [])
    if any(existing.get("name") == item["name"] for existing in present):
        raise PluginError(
            f"--backfill-name: a backfill {item['name']!r} is already in spec.backfills; a name runs once"
        )
    try:
        backfill = Backfill.model_validate(item)
        if spec.get("mappings") is not None:
            backfill.job().check_against(Mappings.model_validate(spec["mappings"]))
    except ValidationError as exc:
        raise PluginError("; ".join(errors.messages(exc))) from None
    except ValueError as exc:
        raise PluginError(str(exc).removeprefix("scope.")) from None
    return [*present, item]


def patch(pipeline: Mapping[str, Any], backfills: list[dict[str, Any]]) -> dict[str, Any]:
    """A merge patch of spec.backfills that only applies to the version read."""
    return {"metadata": {"resourceVersion": pipeline["metadata"]["resourceVersion"]}, "spec": {"backfills": backfills}}


def reported(resource: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The backfill `name` in the status, once a worker reports it."""
    found = ((resource.get("status") or {}).get("backfills")) or []
    return next((item for item in found if item.get("name") == name), None)


def finished(resource: Mapping[str, Any], name: str) -> bool:
    item = reported(resource, name)
    return item is not None and item.get("phase") in DONE
