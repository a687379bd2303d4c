"""Validation errors as a person reads them: the field's path in the document, what is wrong, and for a value
of the wrong form what a right one looks like; once per field, in the spec's words, not pydantic's.

Every refusal a CLI prints (`graphsync run -f`, the plugin) and every InvalidSpec condition the operator
sets goes through `messages`; `tests/unit/test_spec_errors.py` runs every kind of refusal the spec models
can make through it and fails on pydantic's jargon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from graphsync.spec import identifiers, resets

# Parts of pydantic's error locations that name a validator or a union member, not a field.
_TAG_PARTS = frozenset(("int", "str", "float", "bool", "list", "dict", "tuple", "set", "none", "bytes", "json"))
_TAG_PREFIX = re.compile(
    r"^(constrained|function|json-or-python|lax-or-strict|tagged-union|is-instance|is-subclass|literal|nullable"
    r"|default|union|chain|model|dataclass|typed-dict)(-|\[)"
)
_FIELD_FIRST = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:\[[^\]]*\])?(?:\.[A-Za-z][A-Za-z0-9]*(?:\[[^\]]*\])?)*): ")

# What a value of each form looks like, by the pattern a spec field requires (a test checks every pattern
# of the spec models has one).
HINTS: Mapping[str, str] = {
    identifiers.PATTERN: "an identifier: letters, digits and '_', beginning with a letter or '_' (e.g. customer)",
    identifiers.QUALIFIED_PATTERN: "a table, optionally with its schema (e.g. shop.customer)",
    resets.CHECKPOINT_PATTERN: "a position as `checkpoints` lists it: stream, slot, snapshot, files or "
    "watermark:<entity> (e.g. watermark:customer)",
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$": "a Kubernetes name: lower-case letters, digits and '-', "
    "beginning and ending with a letter or digit (e.g. shop-db)",
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([-0-9A-Za-z*/,?]+\s+){4}[-0-9A-Za-z*/,?]+)$": (
        "a cron schedule: five fields, minute hour day month weekday (e.g. '0 3 * * *'), or @hourly, @daily, ..."
    ),
    r"^postgres(ql)?://[^\s:@/]+(@|:)": "a PostgreSQL URL with a user and no password "
    "(e.g. postgresql://app@db.example:5432/shop; the password goes in password)",
    r"^rediss?://": "a Redis URL (e.g. redis://redis.example:6379/0, or rediss:// for TLS)",
    r"^rediss?://\S*$": "a FalkorDB (Redis protocol) URL (e.g. redis://falkordb.example:6379)",
    r"^(bolt|neo4j)(\+s|\+ssc)?://": "a Bolt URI (e.g. bolt://neo4j.example:7687, neo4j+s:// for TLS)",
    r"^[a-z][a-z0-9.-]{0,62}$": "a Neo4j database name: lower-case letters, digits, '.' and '-' (e.g. neo4j)",
    r"^[A-Za-z0-9_][-A-Za-z0-9_.]{0,127}$": "a graph name: letters, digits, '_', '-' and '.' (e.g. shop)",
    r"^(https?://|git://|ssh://|file://|/)[^\s]+$": "a Git URL or an absolute path "
    "(e.g. https://git.example.com/team/kb.git, ssh://git@git.example.com/team/kb.git, /srv/kb)",
    r"^[A-Za-z0-9_][-A-Za-z0-9_./]{0,254}$": "a branch, tag or commit (e.g. main, v1.2, 3f2a9c1)",
    r"^[^\s:@/]{1,128}$": "a user name without spaces, ':', '@' or '/' (e.g. git)",
    r"^[^\s]{1,255}$": "a file name pattern without spaces (e.g. docs/**/*.md)",
    r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$": "a Python parser as module:function "
    "(e.g. graphsync.connectors.files.parsers:markdown)",
    r"^/[^\x00]*$": "an absolute path (e.g. /var/lib/graphsync)",
    r"^[-._a-zA-Z0-9]+$": "a Secret key: letters, digits, '-', '_' and '.' (e.g. password)",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name (e.g. PG_PASSWORD)",
    r"^[^\s]+$": "a value without spaces (e.g. ghcr.io/example/graphsync:0.1.0)",
    r"^[+]?[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$": "a Kubernetes quantity (e.g. 500m, 1Gi, 2)",
    r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$": "a label value: letters, digits, '-', '_' and '.',"
    " beginning and ending with a letter or digit (e.g. team-a)",
}


def messages(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per field at fault (`prefix`: where the document sits, e.g. `spec`), its problems joined."""
    found: dict[str, list[str]] = {}
    for item in error.errors():
        where, what = _located(item, prefix)
        said = found.setdefault(where, [])
        if what not in said:
            said.append(what)
    return [f"{where}: {' or '.join(what)}" if where else " or ".join(what) for where, what in found.items()]


def path(loc: Sequence[Any], prefix: str = "") -> str:
    """`spec.mappings.nodes[0].labels[1]` from pydantic's location, without its validator and union parts."""
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _TAG_PARTS or part == "[key]" or _TAG_PREFIX.match(part):
            continue
        else:
            text = f"{text}.{part}" if text else str(part)
    return text


def _located(item: Mapping[str, Any], prefix: str) -> tuple[str, str]:
    where = path(item["loc"], prefix)
    what = wording(item)
    # A rule over several fields says which one first ("url: with tls set, ..."): that field is where it is.
    named = _FIELD_FIRST.match(what) if item["type"] == "value_error" else None
    if named is None:
        return where, what
    return (f"{where}.{named.group(1)}" if where else named.group(1)), what[named.end() :]


def wording(item: Mapping[str, Any]) -> str:  # noqa: PLR0911 - one wording per kind of error
    """What is wrong, in the spec's words, from one pydantic error."""
    kind, ctx, given = item["type"], item.get("ctx") or {}, item.get("input")
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", item["msg"]))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field here (misspelt, or in the wrong place?)"
    if kind == "string_pattern_mismatch":
        hint = HINTS.get(str(ctx.get("pattern")))
        return f"{given!r} is not {hint}" if hint else f"{given!r} does not have the form this field takes"
    if kind in ("enum", "literal_error"):
        return f"{given!r} is not one of {str(ctx.get('expected', '')).replace(chr(39), '')}"
    limits = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be more than", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be less than", "lt"),
    }
    if kind in limits:
        words, key = limits[kind]
        return f"{words} {ctx.get(key)} (got {given!r})"
    return _TYPES.get(kind) or _sized(kind, ctx) or str(item["msg"])


_TYPES = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a map of names to values",
    "model_type": "must be a map of fields",
    "model_attributes_type": "must be a map of fields",
}


def _sized(kind: str, ctx: Mapping[str, Any]) -> str | None:
    if kind == "string_too_short":
        return (
            "must not be empty" if ctx.get("min_length") == 1 else f"needs at least {ctx.get('min_length')} characters"
        )
    if kind == "string_too_long":
        return f"may have at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"needs at least {ctx.get('min_length')} items"
    if kind == "too_long":
        return f"may have at most {ctx.get('max_length')} items"
    return None
