"""bench.operator's count of the operator's API requests, read from the API server's audit log.

The audit policy records the operator's own requests and the pipelines' creation, so the
log alone says what the operator asked for, when, and when it had handled each pipeline.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.operator_cluster import OPERATOR_USER
from bench.operator_process import Operator
from graphsync_dev import process
from graphsync_dev.process import SubstrateError
from graphsync_operator.build import names

# The operator's own requests, and the creation of each pipeline (by kubectl, to time each one from its
# creation). RequestReceived is left out, so an ordinary request leaves one ResponseComplete line; a watch
# also leaves ResponseStarted when it opens.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "users": [OPERATOR_USER]},
        {
            "level": "Metadata",
            "verbs": ["create"],
            "resources": [{"group": "graphsync.io", "resources": ["syncpipelines"]}],
        },
        {"level": "None"},
    ],
}


# --- the audit log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    at: float  # requestReceivedTimestamp, epoch seconds
    verb: str
    what: str  # resource[/subresource]
    name: str
    code: int
    watch: bool


@dataclass(frozen=True)
class Audit:
    requests: list[Request]  # the operator's, by the time they were received
    created: dict[str, float]  # pipeline -> when its creation completed


def read_audit(folder: Path) -> Audit:
    found, created = [], {}
    for path in sorted(folder.glob("*.log")):
        with path.open() as lines:
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut by a rotation or still being written
                verb, stage = event.get("verb", ""), event.get("stage")
                ref = event.get("objectRef") or {}
                code = int((event.get("responseStatus") or {}).get("code", 0))
                if event.get("user", {}).get("username") != OPERATOR_USER:
                    if verb == "create" and stage == "ResponseComplete" and code == 201 and ref.get("name"):
                        created[ref["name"]] = datetime.fromisoformat(event["stageTimestamp"]).timestamp()
                    continue
                watch = verb == "watch"
                if stage != ("ResponseStarted" if watch else "ResponseComplete"):
                    continue
                what = ref.get("resource") or event.get("requestURI", "?").split("?")[0]
                if ref.get("subresource"):
                    what += f"/{ref['subresource']}"
                at = datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
                found.append(Request(at, verb, what, ref.get("name", ""), code, watch))
    return Audit(sorted(found, key=lambda r: r.at), created)


def handled(audit: Audit) -> dict[str, float]:
    """Pipeline -> when the operator had applied all its children and written its status (its first
    status patch after the last of them), as the audit log shows."""
    children: dict[str, Callable[[str], str]] = {
        "configmaps": names.config_map,
        "services": names.service,
        "deployments": names.deployment,
        "serviceaccounts": lambda p: names.account(p, "sync"),
        "roles": lambda p: names.account(p, "sync"),
        "rolebindings": lambda p: names.account(p, "sync"),
        "leases": lambda p: names.lease(p, "sync"),
    }
    first: dict[tuple[str, str], float] = {}
    statuses: dict[str, list[float]] = defaultdict(list)
    for r in audit.requests:
        if r.verb == "patch" and r.code < 300:
            first.setdefault((r.what, r.name), r.at)
            if r.what == "syncpipelines/status":
                statuses[r.name].append(r.at)
    done = {}
    for pipeline in audit.created:
        applied = [first.get((what, name(pipeline))) for what, name in children.items()]
        if any(at is None for at in applied):
            continue
        last = max(at for at in applied if at is not None)
        status = next((at for at in statuses[pipeline] if at >= last), None)
        if status is not None:
            done[pipeline] = status
    return done


def between(requests: Iterable[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.at < end]


def breakdown(requests: list[Request], pipelines: int, minutes: float | None) -> dict[str, Any]:
    """Counts by "verb resource"; per pipeline (per minute when `minutes` is given); distinct objects named."""
    calls = [r for r in requests if not r.watch]
    counts = Counter(f"{r.verb} {r.what}" for r in calls)
    objects: dict[str, set[str]] = defaultdict(set)
    for r in calls:
        objects[f"{r.verb} {r.what}"].add(r.name)
    scale = pipelines * (minutes or 1.0)
    by_request = {
        key: {"count": count, "per_pipeline": round(count / scale, 3), "objects": len(objects[key] - {""})}
        for key, count in counts.most_common()
    }
    errors = Counter(f"{r.verb} {r.what} {r.code}" for r in calls if r.code >= 400)
    watches = Counter(f"watch {r.what}" for r in requests if r.watch)
    return {
        "requests": len(calls),
        "per_pipeline": round(len(calls) / scale, 3),
        "by_request": by_request,
        "errors": dict(errors.most_common()),
        "watches_opened": dict(watches.most_common()),
    }


def wait_for_watch(operator: Operator, audit: Path, resource_name: str, timeout: float) -> None:
    """The operator is up once it watches the pipelines (as the audit log shows)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not operator.alive():
            raise SubstrateError(f"the operator exited:\n{process.log_tail(operator.log)}")
        if any(r.watch and r.what == resource_name for r in read_audit(audit).requests):
            return
        time.sleep(1)
    raise SubstrateError(f"the operator did not watch {resource_name} in {timeout:.0f}s")
