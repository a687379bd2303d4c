"""A check of a value against a CRD's structural OpenAPI v3 schema, as the API server makes it (pure).

What the API server checks before it stores an object: types (with `nullable` and int-or-string), required
fields, unknown fields (pruned by the server, refused by `kubectl apply`'s strict field validation), enums,
patterns, bounds on numbers, strings and lists. CEL rules (`x-kubernetes-validations`) are not evaluated
here: the operator's own models check the same rules, and the docs tests run those too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]


def problems(value: Any, schema: Schema, path: str) -> list[str]:
    """Every way `value` breaks `schema`, each naming the field (`spec.mappings.nodes[0].key: ...`)."""
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: must not be null"]
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return [] if ok else [f"{path}: must be an integer or a string, not {value!r}"]
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        return [f"{path}: must be {kind}, not {type(value).__name__} {value!r}"]
    found = _scalar(value, schema, path)
    if isinstance(value, dict):
        found += _object(value, schema, path)
    if isinstance(value, list):
        found += _list(value, schema, path)
    return found


def _is(value: Any, kind: str) -> bool:
    # bool is an int in Python, and YAML's `yes` would read as one: neither is a number to the API server.
    if isinstance(value, bool):
        return kind == "boolean"
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int),
        "number": isinstance(value, int | float),
        "boolean": False,
    }.get(kind, True)


def _scalar(value: Any, schema: Schema, path: str) -> list[str]:
    found = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        # The API server's patterns are ECMA-262; the CRDs' are written in the subset Python reads the same.
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            found.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
        if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get("minLength", 0):
            found.append(f"{path}: {len(value)} characters, outside the bounds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value <= low if schema.get("exclusiveMinimum") is True else value < low):
            found.append(f"{path}: {value} is below the minimum {low}")
        if high is not None and (value >= high if schema.get("exclusiveMaximum") is True else value > high):
            found.append(f"{path}: {value} is above the maximum {high}")
    return found


def _object(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    found = [f"{path}.{name}: required" for name in schema.get("required", ()) if name not in value]
    fields = schema.get("properties")
    values = schema.get("additionalProperties")
    for name, item in value.items():
        if fields is not None and name in fields:
            found += problems(item, fields[name], f"{path}.{name}")
        elif isinstance(values, Mapping):
            found += problems(item, values, f"{path}.{name}")
        elif fields is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
            found.append(f"{path}.{name}: unknown field")
    return found


def _list(value: list[Any], schema: Schema, path: str) -> list[str]:
    found = []
    if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
        found.append(f"{path}: {len(value)} items, outside the bounds")
    if isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{path}[{index}]")
    return found
