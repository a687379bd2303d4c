"""FalkorDB query parameters: the `CYPHER name=value ...` header its protocol sends ahead of the query.

Values travel as Cypher literals in that header, never inside the query text
itself; a value that has no literal form is refused, never altered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class UnrepresentableValue(ValueError):
    """A value FalkorDB cannot hold as a property, with where it was found."""


def header(params: Mapping[str, Any]) -> str:
    """`CYPHER a=1 b="x" ` for {"a": 1, "b": "x"}; parameter names are the engine's own."""
    return "CYPHER " + " ".join(f"{name}={literal(value)}" for name, value in params.items()) + " "


def literal(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None or isinstance(value, bool):
        return _CONSTANTS[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnrepresentableValue(f"{value!r} has no Cypher literal")
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(literal, value)) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_key(k)}:{literal(v)}" for k, v in value.items()) + "}"
    raise UnrepresentableValue(f"a value of type {type(value).__name__} cannot be sent to FalkorDB")


_CONSTANTS = {None: "null", True: "true", False: "false"}


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key(name: Any) -> str:
    text = str(name)
    if not text or "`" in text:
        raise UnrepresentableValue(f"property name {text!r} cannot be written in FalkorDB")
    return f"`{text}`"
