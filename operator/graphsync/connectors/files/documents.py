"""Graph documents: what a parser makes of one file, the JSON format read out of the box, and the parser hook.

A parser is any function `parse(data: bytes, path: str) -> Document`; it raises
`DocumentError` (or any ValueError) naming the item that is wrong. Register one for
other file kinds (ontologies, CSV edge lists) in the pipeline spec:

    files:
      parsers:
        - pattern: "*.ttl"
          function: "mypackage.turtle:parse"
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graphsync.spec import errors
from graphsync.spec.files import ParserRef
from graphsync.spec.identifiers import Identifier


class DocumentError(ValueError):
    """A file that cannot be synced; the message names the item and what is wrong with it."""


@dataclass(frozen=True)
class Node:
    id: str
    labels: tuple[str, ...]
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    type: str
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """One relationship per type between two nodes: its identity."""
        return json.dumps([self.type, self.source, self.target], separators=(",", ":"))

    @classmethod
    def from_key(cls, key: str) -> Edge:
        rel_type, source, target = json.loads(key)
        return cls(str(source), str(target), str(rel_type))


@dataclass(frozen=True)
class Document:
    nodes: Sequence[Node]
    edges: Sequence[Edge] = ()


Parser = Callable[[bytes, str], Document]

Scalar = str | int | float | bool
Value = Scalar | list[str] | list[int] | list[float] | list[bool]


class _JsonNode(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str | int
    labels: list[Identifier] = Field(default_factory=list, max_length=16)
    properties: dict[str, Value] = Field(default_factory=dict)


class _JsonEdge(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    source: str | int = Field(alias="from")
    target: str | int = Field(alias="to")
    type: Identifier
    properties: dict[str, Value] = Field(default_factory=dict)


class _JsonDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    nodes: list[_JsonNode] = Field(default_factory=list)
    edges: list[_JsonEdge] = Field(default_factory=list)


def parse_json(data: bytes, path: str) -> Document:
    """`{"nodes": [{"id", "labels", "properties"}], "edges": [{"from", "to", "type", "properties"}]}`."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"not valid JSON: {exc}") from None
    try:
        parsed = _JsonDocument.model_validate(raw)
    except ValidationError as exc:
        raise DocumentError(errors.messages(exc)[0]) from None
    return Document(
        nodes=[Node(str(n.id), tuple(n.labels), n.properties) for n in parsed.nodes],
        edges=[Edge(str(e.source), str(e.target), e.type, e.properties) for e in parsed.edges],
    )


BUILTIN: tuple[tuple[str, Parser], ...] = (("*.json", parse_json),)


class Parsers:
    """The parser of each file: the spec's own first, in order, then the built-in ones."""

    def __init__(self, refs: Sequence[ParserRef] = ()) -> None:
        allowed = registered() if refs else frozenset()
        self._table: list[tuple[str, Parser]] = [(ref.pattern, load(ref.function, allowed)) for ref in refs]
        self._table.extend(BUILTIN)

    def for_path(self, path: str) -> Parser | None:
        for pattern, parser in self._table:
            if fnmatch.fnmatchcase(path, pattern):
                return parser
        return None


# Who may name a parser: whoever builds the worker image (a package declaring an entry point of this group,
# `name = "module:function"`) or runs the worker (GRAPHSYNC_PARSERS, comma-separated references). A pipeline's
# author only picks one of those: a spec can never make the worker import code of its choosing.
ENTRY_POINTS = "graphsync.parsers"
ALLOWED_ENV = "GRAPHSYNC_PARSERS"


def registered() -> frozenset[str]:
    """The parser references this worker may load."""
    found = {entry.value for entry in importlib.metadata.entry_points(group=ENTRY_POINTS)}
    found |= {item.strip() for item in os.environ.get(ALLOWED_ENV, "").split(",") if item.strip()}
    return frozenset(found)


def load(reference: str, allowed: frozenset[str] | None = None) -> Parser:
    """Import `module:function`, one of the `registered` parsers; a wrong reference is a spec error naming it."""
    allowed = registered() if allowed is None else allowed
    if reference not in allowed:
        listed = ", ".join(sorted(allowed)) or "none"
        raise ValueError(
            f"files.parsers: {reference!r} is not a registered parser (registered: {listed}); parsers are "
            f"registered by the worker image (entry point group {ENTRY_POINTS!r}) or the worker's {ALLOWED_ENV}"
        )
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"files.parsers: cannot import {module_name!r}: {exc}") from None
    parser = getattr(module, name, None)
    if not callable(parser):
        raise ValueError(f"files.parsers: {reference!r} is not a function")
    checked: Parser = parser
    return checked
