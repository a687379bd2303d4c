"""`kubectl graphsync backfill NAME --entity ...`: a backfill appended to a SyncPipeline's spec.backfills,
checked against its mappings (how the plugin adds it: `graphsync_operator.plugin.declared`); the worker that
runs it reports its progress in `status.backfills`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from graphsync.spec import errors
from graphsync.spec.backfill import Backfill
from graphsync.spec.mapping import Mappings
from graphsync_operator.plugin.declared import Declared
from graphsync_operator.plugin.steer import PluginError

BACKFILLS = Declared("backfills", "backfill", "--backfill-name", ("Completed", "Partial"))


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


def check(spec: Mapping[str, Any], items: list[dict[str, Any]]) -> None:
    """The new backfill against the pipeline's mappings; raises PluginError naming what would not run (pure)."""
    try:
        backfill = Backfill.model_validate(items[-1])
        if spec.get("mappings") is not None:
            backfill.job().check_against(Mappings.model_validate(spec["mappings"]))
    except ValidationError as exc:
        raise PluginError("; ".join(errors.messages(exc))) from None
    except ValueError as exc:
        raise PluginError(str(exc).removeprefix("scope.")) from None
