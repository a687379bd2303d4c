"""A worker's read-only answers about its pipeline's stores: GET /deadletters and /conflicts[/ID].

`kubectl graphsync dlq list` and `conflicts list|show` ask the pipeline's worker through
the API server's pod proxy: the worker already holds the spec, the Secrets and a route to
the databases, so the user needs neither the database addresses nor the Secrets, only the
right to `get pods/proxy` in the namespace. Only reads are served; replaying and resolving
change the databases and stay the plugin's own (with the user's reach to them).

The answers are what `-o json` prints but for the rows' values (see VALUES), wrapped in
one object (`deadLetters`, `conflicts`, `conflict`); a refusal is `{"message": ...}`, the
shape of the API server's own Status, so the plugin says it as the API server's message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from graphsync import deadletters, stores
from graphsync.commands import conflicts as conflicts_command
from graphsync.commands import deadletter as deadletter_command
from graphsync.spec.pipeline import Mode, PipelineSpec

DEAD_LETTERS, CONFLICTS = "/deadletters", "/conflicts"
# The rows' own values (a dead letter's payload, a conflict's three versions) are left out: the port also serves
# probes and scrapes to anything that reaches the pod, without the API server's RBAC in between. Keys, reasons and
# which fields differ are served; the values stay one `--direct` (with the right to read the Secrets) away.
VALUES = ("payload", "source", "target", "base")
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Request:
    """What a GET asks for: `kind` (deadletters, conflicts), replayed or resolved ones too, how many, which one."""

    kind: str
    include_all: bool = False
    limit: int = 100
    id: str | None = None


def parse(target: str) -> Request | str | None:
    """The request a GET target (path and query) makes (pure): a Request, None for a path not served here, or a
    message saying what is wrong with the query."""
    path, _, query = target.partition("?")
    params = parse_qs(query)
    everything = params.get("all", ["false"])[-1].lower() in ("1", "true", "yes")
    if path == DEAD_LETTERS:
        limit = params.get("limit", ["100"])[-1]
        if not limit.isdigit() or not 0 < int(limit) <= MAX_LIMIT:
            return f"limit: a whole number from 1 to {MAX_LIMIT}, got {limit!r}"
        return Request("deadletters", everything, int(limit))
    if path == CONFLICTS:
        return Request("conflicts", everything)
    if path.startswith(CONFLICTS + "/") and path.count("/") == 2 and path.rsplit("/", 1)[1]:
        return Request("conflicts", id=path.rsplit("/", 1)[1])
    return None


def answer(spec: PipelineSpec, request: Request) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON object) for `request` on the pipeline `spec`; reads one store, one connection."""
    if request.kind == "deadletters":
        if spec.source.files is not None or spec.mode is Mode.BIDIRECTIONAL:
            return HTTPStatus.NOT_FOUND, {"message": f"pipeline {spec.identity} keeps no dead-letter store"}
        found = deadletters.listed(spec, include_replayed=request.include_all, limit=request.limit)
        return HTTPStatus.OK, {
            "deadLetters": [without(letter, VALUES) for letter in deadletter_command.letters_data(found)]
        }
    if spec.mode is not Mode.BIDIRECTIONAL:
        message = f"mode: conflicts are held by bidirectional pipelines, and this one is {spec.mode.value}"
        return HTTPStatus.NOT_FOUND, {"message": message}
    with ExitStack() as stack:
        _, store = stores.bidirectional_state(spec, stack)
        if request.id is None:
            held = store.list(include_resolved=request.include_all)
            return HTTPStatus.OK, {"conflicts": [without(conflicts_command.record(c), VALUES) for c in held]}
        conflict = store.get(request.id)
    if conflict is None:
        return HTTPStatus.NOT_FOUND, {"message": f"no conflict {request.id!r} in pipeline {spec.identity}"}
    return HTTPStatus.OK, {"conflict": without(conflicts_command.record(conflict), VALUES)}


def without(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in keys}


class Inspector:
    """What the health server calls for a path it does not serve itself: None when the path is not ours either."""

    def __init__(self, spec: PipelineSpec, answered: Callable[[PipelineSpec, Request], tuple[int, Any]] = answer):
        self._spec = spec
        self._answer = answered

    def __call__(self, target: str) -> tuple[int, bytes] | None:
        request = parse(target)
        if request is None:
            return None
        if isinstance(request, str):
            return _body(HTTPStatus.BAD_REQUEST, {"message": request})
        try:
            return _body(*self._answer(self._spec, request))
        except Exception as exc:  # noqa: BLE001 - a store that cannot be read is the caller's answer, not a crash
            return _body(HTTPStatus.SERVICE_UNAVAILABLE, {"message": f"cannot read the store: {exc}".strip()})


def _body(status: int, data: Any) -> tuple[int, bytes]:
    return int(status), json.dumps(data, default=str).encode()
