"""The one place where identifiers enter Cypher text.

Templates are module constants with `{name}` slots for labels, relationship
types and property names. `render` fills them only with identifiers that pass
the strict pattern, backtick-quoted; every value stays a `$parameter`.
"""

from __future__ import annotations

from typing import LiteralString

from graphsync.spec import identifiers

# Bookkeeping the engine keeps on target entities, never shown as user data.
VERSION = "_graphsync_version"
REL_KEY = "_graphsync_key"
TOMBSTONE_LABEL = "GraphsyncTombstone"


def quote(identifier: str) -> str:
    identifiers.check(identifier)
    return f"`{identifier}`"


def labels(names: tuple[str, ...] | list[str]) -> str:
    return "".join(f":{quote(name)}" for name in names)


def render(template: LiteralString, **slots: str) -> LiteralString:
    """Fill a constant template with already-quoted identifiers (see `quote`, `labels`).

    The result counts as constant query text because every slot value was
    produced by `quote`/`labels` from an identifier that matched the strict pattern.
    """
    return template.format(**slots)
