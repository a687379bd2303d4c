"""From a pydantic model's JSON schema to a Kubernetes structural schema (pure).

The API server accepts a subset of OpenAPI v3: no `$ref` (definitions are
inlined), no `null` type (an optional field is `nullable`), no `additionalProperties`
beside `properties` (unknown fields are pruned instead), no `const`, no `title`, exclusive bounds as flags;
a value that may be an integer or a string is `x-kubernetes-int-or-string`; a map whose keys
must match a pattern (`patternProperties`) is a plain map: a CEL rule over unbounded keys
exceeds the API server's cost budget, so the operator checks such keys (InvalidSpec naming the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_DROPPED = frozenset(("title", "$defs"))
_EXCLUSIVE = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}


def structural(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The structural form of a model's JSON schema (`Model.model_json_schema(by_alias=True)`)."""
    return _convert(schema, schema.get("$defs", {}))


def _convert(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if "anyOf" in node:
        return _any_of(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in _EXCLUSIVE:
            # JSON Schema gives the bound; OpenAPI v3.0 a flag beside minimum/maximum.
            out[_EXCLUSIVE[key]] = value
            out[key] = True
        elif key == "properties":
            out["properties"] = {name: _convert(item, defs) for name, item in value.items()}
        elif key == "additionalProperties":
            if isinstance(value, Mapping) and "properties" not in node:
                out["additionalProperties"] = _convert(value, defs)
        elif key == "patternProperties":
            ((_, item),) = value.items()
            out["additionalProperties"] = _convert(item, defs)
        elif key == "items":
            out["items"] = _convert(value, defs)
        else:
            out[key] = value
    return out


_SCALARS = {"boolean", "integer", "number", "string"}


def _any_of(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    options = [option for option in node["anyOf"] if option.get("type") != "null"]
    nullable = len(options) < len(node["anyOf"])
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    kinds = sorted(str(option.get("type")) for option in options)
    if len(options) == 1:
        out = _convert({**options[0], **rest}, defs)
    elif kinds == ["integer", "string"]:
        out = {"x-kubernetes-int-or-string": True, **_convert(rest, defs)}
    elif set(kinds) <= _SCALARS:
        # A structural schema has no other choice of types: any value passes the API server, and the operator's
        # gate refuses one that is not a scalar (InvalidSpec, naming the field).
        out = {"x-kubernetes-preserve-unknown-fields": True, **_convert(rest, defs)}
    else:
        raise ValueError(f"no structural form for a choice of {kinds}")
    if nullable:
        out["nullable"] = True
    return out
