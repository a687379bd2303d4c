"""The docs' API reference (docs/reference/api.md), generated from the CRDs' schemas (pure).

Every field of every kind: its path, type, default, validation (enum, pattern, bounds, the CEL rules'
messages), description and an example. Examples come from the sample resources in `manifests/samples/`
(real values, accepted by the API server in the e2e tier); a field no sample sets gets its default, its first
allowed value, or a value made from its type and bounds. `graphsync-dev reference --write
docs/reference/api.md` writes it (`make generate`); a unit test fails when the committed page drifts.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Schema = Mapping[str, Any]
HEADER = """<!-- Generated from the CRDs in crds/ by `graphsync-dev reference --write docs/reference/api.md`
     (make generate); do not edit: a unit test fails when this page differs from what the CRDs say. -->
# API reference

Every field of the three kinds of `{api_version}`, generated from the CustomResourceDefinitions in `crds/`
(which are generated from the operator's API models). A path's `[]` is an item of a list, `<key>` a value of a
map. **required** fields must be set; a field with a default may be left out. Validation is what the API
server checks before anything is stored (the operator checks the rest and says so in the status, see
[Troubleshoot](../operations/troubleshoot.md)). Examples are taken from `manifests/samples/` where a sample
sets the field.
"""
# A longer example says less than the field's own description: the samples page shows whole resources.
MAX_EXAMPLE = 70
# Values for string fields no sample sets, by the pattern the field must match or by its format.
PATTERN_EXAMPLES = {
    r"^[A-Za-z_][A-Za-z0-9_]{0,62}$": "customer",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "PG_PASSWORD",
}
FORMAT_EXAMPLES = {"date-time": "2026-12-01T02:30:00Z", "int-or-string": 1}
# Fields no sample sets, by the end of their path: values the rest of the docs use.
SUFFIX_EXAMPLES: dict[str, Any] = {
    ".ca.path": "certs/ca.pem",
    ".cert.path": "certs/client.pem",
    ".key.path": "certs/client.key",
    ".privateKey.path": "keys/id_ed25519",
    ".knownHosts.path": "keys/known_hosts",
    ".database": "neo4j",
    ".files.directory": "/data/kb",
    ".parsers[].pattern": "*.ttl",
    ".parsers[].function": "mypackage.turtle:parse",
    ".tolerations[].value": "graph",
    ".env[].value": "http://proxy.example:3128",
    ".priorityClassName": "graphsync-workers",
    ".workers.image": "ghcr.io/graphsync/graphsync:0.1.0",
    "status.source": "postgres",
    "status.target": "neo4j",
    "status.workers": "2/2",
    "status.selector": "app.kubernetes.io/instance=shop,app.kubernetes.io/component=sync",
    ".outcome": "repaired",
    ".lastReconciliation.name": "shop-nightly",
    ".lastRun.name": "shop-nightly",
    "[].pod": "shop-worker-6d9f7c5b8-x2x4q",
    "[].state": "running",
    "backfills[].phase": "Completed",
    "checkpointResets[].phase": "Applied",
    "schemaChanges[].phase": "Following",
    "schemaChanges[].entity": "customer",
    ".conditions[].status": "True",
    ".conditions[].reason": "Syncing",
}
NO_EXAMPLE = "set by the operator"
KIND_ORDER = ("SyncPipeline", "ReconciliationJob", "ConflictPolicy")


@dataclass(frozen=True)
class Field:
    """One field of a schema: where it is, what it is, and whether its parent requires it."""

    path: str
    schema: Schema
    required: bool


def fields(schema: Schema, path: str) -> Iterator[Field]:
    """Every field under `schema`, depth first in the schema's order (which is the models' order)."""
    required = set(schema.get("required") or ())
    for name, child in (schema.get("properties") or {}).items():
        where = f"{path}.{name}"
        yield Field(where, child, name in required)
        yield from _inside(child, where)


def _inside(schema: Schema, path: str) -> Iterator[Field]:
    yield from fields(schema, path)
    if isinstance(schema.get("items"), Mapping):
        yield from _inside(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from _inside(schema["additionalProperties"], f"{path}.<key>")


def type_of(schema: Schema) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "integer or string"
    kind = schema.get("type")
    if kind is None:
        return "any" if schema.get("x-kubernetes-preserve-unknown-fields") else "object"
    if kind == "array":
        items = schema.get("items")
        return f"list of {type_of(items)}" if isinstance(items, Mapping) else "list"
    values = schema.get("additionalProperties")
    if kind == "object" and isinstance(values, Mapping) and not schema.get("properties"):
        return f"map of string to {type_of(values)}"
    return f"{kind} ({schema['format']})" if schema.get("format") else str(kind)


def validation(schema: Schema) -> list[str]:
    """What the API server checks of the field's value, in words."""
    said = []
    if "enum" in schema:
        said.append("one of " + ", ".join(_code(value) for value in schema["enum"]))
    if "pattern" in schema:
        said.append(f"matches {_code(schema['pattern'])}")
    for bound, word in (("minimum", ">"), ("maximum", "<")):
        if bound in schema:
            exclusive = schema.get("exclusive" + bound[0].upper() + bound[1:]) is True
            said.append(f"{word}{'' if exclusive else '='} {_number(schema[bound])}")
    for bound, word in (("minLength", "at least {} characters"), ("maxLength", "at most {} characters")):
        if bound in schema:
            said.append(word.format(schema[bound]))
    for bound, word in (("minItems", "at least {} item(s)"), ("maxItems", "at most {} item(s)")):
        if bound in schema:
            said.append(word.format(schema[bound]))
    if schema.get("x-kubernetes-list-type") == "map":
        keys = ", ".join(schema.get("x-kubernetes-list-map-keys") or ())
        said.append(f"items unique by {keys}")
    said += [rule["message"] for rule in schema.get("x-kubernetes-validations") or ()]
    return said


def example(path: str, schema: Schema, found: Sequence[Any]) -> Any:  # noqa: PLR0911 - one answer per kind
    """A value for the field: a sample's, else the default, an allowed value, or one from type and bounds."""
    for value in found:
        if len(_compact(value)) <= MAX_EXAMPLE:
            return value
    for suffix, value in SUFFIX_EXAMPLES.items():
        if path.endswith(suffix):
            return value
    if "default" in schema and schema["default"] not in (None, [], {}):
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("x-kubernetes-int-or-string"):
        return FORMAT_EXAMPLES["int-or-string"]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        return low + 1 if schema.get("exclusiveMinimum") is True or low == 0 else low
    if kind == "boolean":
        return True
    if kind == "string":
        made = PATTERN_EXAMPLES.get(schema.get("pattern", ""), FORMAT_EXAMPLES.get(schema.get("format", "")))
        # What the operator writes freely (an error, a hash, a position) has no one example worth inventing.
        return made if made is not None or not path.startswith("status") else NO_EXAMPLE
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return [example(f"{path}[]", schema["items"], ())]
    return None  # an object: its fields below have the examples


def leaves(document: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) a sample holds, its lists and maps written as the reference writes them."""
    yield path, document
    if isinstance(document, dict):
        for name, value in document.items():
            yield from leaves(value, f"{path}.{name}")
    elif isinstance(document, list):
        for value in document:
            yield from leaves(value, f"{path}[]")


def _steps(path: str) -> list[str]:
    return re.findall(r"\.[^.\[]+|\[\]", path)


def values_at(document: Any, path: str) -> list[Any]:
    """The values a sample resource holds at `path` (one per list item and map value on the way)."""
    found = [document]
    for step in _steps(path):
        following: list[Any] = []
        for value in found:
            if step == "[]" and isinstance(value, list):
                following += value
            elif step == ".<key>" and isinstance(value, dict):
                following += value.values()
            elif isinstance(value, dict) and step[1:] in value:
                following.append(value[step[1:]])
        found = following
    return found


def page(crds: Mapping[str, Mapping[str, Any]], samples: Sequence[Mapping[str, Any]]) -> str:
    """The reference page: one section per kind, a table of its spec's fields, then one of its status's."""
    first = next(iter(crds.values()))
    lines = [HEADER.format(api_version=f"{first['spec']['group']}/{first['spec']['versions'][0]['name']}")]
    for crd in crds.values():
        kind = crd["spec"]["names"]["kind"]
        root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        names = crd["spec"]["names"]
        short = ", ".join(f"`{name}`" for name in names.get("shortNames", ()))
        lines += [f"## {kind}", "", f"`kubectl get {names['plural']}` (short names {short}).", ""]
        lines += _description(root["properties"]["spec"])
        for part in ("spec", "status"):
            schema = root["properties"].get(part)
            if schema is None:
                continue
            lines += [f"### {kind} {part}", ""]
            lines += _description(schema) if part == "status" else []
            lines += _table(kind, list(fields(schema, part)), samples)
    return "\n".join(lines).rstrip("\n") + "\n"


def _description(schema: Schema) -> list[str]:
    text = " ".join(str(schema.get("description", "")).split())
    return [text, ""] if text else []


def _table(kind: str, rows: list[Field], samples: Sequence[Mapping[str, Any]]) -> list[str]:
    out = ["| field | type | default | validation | description | example |", "|---|---|---|---|---|---|"]
    # A field the samples of this kind leave out may be set elsewhere under the same name (a Secret's name and
    # key, say): the last two steps of the path find it in any sample.
    anywhere = [(_steps(path)[-2:], value) for sample in samples for path, value in leaves(sample)]
    mine = [sample for sample in samples if sample.get("kind") == kind]
    for row in rows:
        found = [value for sample in mine for value in values_at(sample, row.path)]
        found += [value for tail, value in anywhere if len(tail) == 2 and tail == _steps(row.path)[-2:]]
        shown = example(row.path, row.schema, found)
        cells = [
            _code(row.path) + (" **required**" if row.required else ""),
            type_of(row.schema),
            _code(row.schema["default"]) if "default" in row.schema else "",
            "; ".join(validation(row.schema)),
            " ".join(str(row.schema.get("description", "")).split()),
            NO_EXAMPLE if shown == NO_EXAMPLE else _code(shown) if shown is not None else "see its fields",
        ]
        out.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return [*out, ""]


def _compact(value: Any) -> str:
    # JSON is YAML's flow style: the example reads as it would be written in a manifest.
    return value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))


def _code(value: Any) -> str:
    text = _compact(value)
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _cell(text: str) -> str:
    """One line; a bar outside code ends the cell, so it is escaped there (Python-Markdown leaves bars inside
    code spans alone, and would show an escape there as written)."""
    parts = re.split(r"(``.*?``|`[^`]*`)", " ".join(text.split()))
    return "".join(part if part.startswith("`") else part.replace("|", r"\|") for part in parts)


def crds_in(directory: Path) -> dict[str, dict[str, Any]]:
    """The CRD files of `directory` by name, the kinds in the order a reader meets them (pipelines first)."""
    found = {file.name: yaml.safe_load(file.read_text()) for file in directory.glob("*.yaml")}
    crds = {name: crd for name, crd in found.items() if crd.get("kind") == "CustomResourceDefinition"}
    return dict(sorted(crds.items(), key=lambda item: KIND_ORDER.index(item[1]["spec"]["names"]["kind"])))


def samples_in(directory: Path) -> list[dict[str, Any]]:
    """Every resource in the YAML files of `directory`, in file order."""
    found: list[dict[str, Any]] = []
    for file in sorted(directory.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(file.read_text()) if isinstance(doc, dict)]
    return found


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("reference", help="the docs' API reference page, generated from the CRDs")
    command.add_argument("--write", type=Path, metavar="FILE", help="write the page into FILE (else print it)")
    command.add_argument("--crds", type=Path, default=Path("crds"), help="the CRD files the page describes")
    command.add_argument("--samples", type=Path, default=Path("manifests/samples"), help="where the examples come from")
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    text = page(crds_in(args.crds), samples_in(args.samples))
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
    else:
        print(text, end="")
    return 0
