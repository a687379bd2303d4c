"""No value of a Secret is ever in what the operator writes (pure, grep-based): for every sample pipeline, its
children (ConfigMap, workloads, RBAC), its status, and the Events and conditions of a Secret found wanting are
searched for the Secret's values, plainly and base64-encoded, while the operator's Secret check reads them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.build import children
from graphsync_operator.build import events as build_events
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from graphsync_operator.controller.assess import pipeline_status
from graphsync_operator.controller.handlers import client, preconditions
from graphsync_operator.controller.handlers.specs import Missing
from tests.unit.assess_data import observed, report
from tests.unit.test_install_files import samples

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


class SecretsOnly:
    """The API client as the Secret check sees it: Secrets holding values no output may show."""

    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert (api_version, kind) == ("v1", "Secret")
        values = self.secrets.get(name)
        if values is None:
            return None
        data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
        return {"metadata": {"name": name, "namespace": namespace}, "data": data}


def values_of(secrets: dict[str, dict[str, str]]) -> Iterator[str]:
    for values in secrets.values():
        for value in values.values():
            yield value
            yield base64.b64encode(value.encode()).decode()


def test_no_secret_value_is_in_any_child_status_event_or_condition_of_any_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = samples()
    [secret] = found["Secret"]
    name = secret["metadata"]["name"]
    # Values no rendering would make by chance.
    secrets = {name: {key: f"sv-{key}-7c1e9a3f" for key in secret["stringData"]}}
    policies = {p["metadata"]["name"]: ConflictPolicySpec.model_validate(p["spec"]) for p in found["ConflictPolicy"]}
    written: list[str] = []
    for sample in found["SyncPipeline"]:
        body = {**sample, "metadata": {**sample["metadata"], "namespace": "apps", "uid": "uid-1"}}
        spec = SyncPipelineSpec.model_validate(body["spec"])
        policy = policies[spec.conflict_policy_ref.name] if spec.conflict_policy_ref else None
        owner = Owner("SyncPipeline", body["metadata"]["name"], "apps", "uid-1")
        built = children.pipeline(owner, spec, Defaults(image="ghcr.io/graphsync/graphsync:0.1.0"), policy)
        written += [json.dumps(built.manifests), built.rendered.document]
        # The check reads every Secret the spec names, whole: all there, then each key missing in turn.
        monkeypatch.setattr(client, "_kube", SecretsOnly(secrets))
        preconditions.check_secrets("apps", built)
        for use in built.rendered.secrets:
            wanting = {name: {k: v for k, v in secrets[name].items() if k != use.key}}
            monkeypatch.setattr(client, "_kube", SecretsOnly(wanting))
            with pytest.raises(Missing) as caught:
                preconditions.check_secrets("apps", built)
            written.append(json.dumps(build_events.event(body, "Warning", "SecretMissing", str(caught.value), NOW)))
        status = pipeline_status(observed(reports=[report(lag_seconds=0.0, synced=40)]))
        written.append(status.model_dump_json())
    assert written
    leaked = [value for value in values_of(secrets) for text in written if value in text]
    assert not leaked, leaked
