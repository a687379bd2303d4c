"""Identifiers that end up inside query text, validated against one strict pattern.

Labels, relationship types, property names, tables and columns cannot be query
parameters in Cypher or SQL, so they are the only user data that reaches query
text. Everything else is always a parameter.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
_COMPILED = re.compile(PATTERN)
# The engine's own bookkeeping on target entities lives under this prefix.
RESERVED_PREFIX = "_graphsync"


def check(value: str) -> str:
    if not _COMPILED.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid identifier: use letters, digits and underscores, "
            "starting with a letter or underscore, at most 63 characters"
        )
    if value.lower().startswith(RESERVED_PREFIX):
        raise ValueError(f"{value!r} is reserved: names starting with {RESERVED_PREFIX!r} belong to graphsync")
    return value


# The pattern is published in JSON schemas (and so in the CRDs, where the API server checks it);
# `check` gives the clearer message and also refuses the reserved prefix.
Identifier = Annotated[str, AfterValidator(check), WithJsonSchema({"type": "string", "pattern": PATTERN})]


def qualified(value: str) -> str:
    """A table name, optionally schema-qualified (`schema.table`)."""
    for part in value.split("."):
        check(part)
    if value.count(".") > 1:
        raise ValueError(f"{value!r} is not a valid table name: use `table` or `schema.table`")
    return value


QUALIFIED_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"
QualifiedName = Annotated[
    str, AfterValidator(qualified), WithJsonSchema({"type": "string", "pattern": QUALIFIED_PATTERN})
]
