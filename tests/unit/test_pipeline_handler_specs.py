"""Every SyncPipeline spec ends in children or in InvalidSpec naming the field, never in an exception the
handler would retry for ever (hypothesis): specs made of every source, target, mode, capture, schedule,
transport, policy and replica choice a user can write, combined at random, through the handler's pure part
(parsing, inlining a referenced policy, building every child)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.build.names import Owner
from graphsync_operator.controller.handlers.pipelines import build_pipeline
from graphsync_operator.controller.handlers.specs import Invalid, parse_spec
from tests.resources import shop_spec

GRAPH = {"uri": "bolt://graph.example:7687", "reading": {"watermarkProperty": "updated_at"}}
SOURCES: dict[str, dict[str, Any]] = {
    "postgres": shop_spec()["source"]["postgres"],
    "neo4j": GRAPH,
    "falkordb": {"url": "redis://falkor.example:6379", "graph": "source", "reading": {}},
    "files": {"git": {"url": "https://git.example.com/kb.git"}},
}
TARGETS: dict[str, dict[str, Any]] = {
    "neo4j": {"uri": "bolt://neo4j.example:7687"},
    "falkordb": {"url": "redis://falkor.example:6379", "graph": "target"},
}
MODES = ["continuous", "snapshotThenStream", "snapshot", "incremental", "differential", "bidirectional"]
POLICIES = [None, {"strategy": "sourceWins"}, {"strategy": "merge", "merge": {"fields": {"stock": "sum"}}}]
OWNER = Owner(kind="SyncPipeline", name="shop", namespace="team-a", uid="8d5e0c0e-0000-4000-8000-000000000001")


# Mostly the coherent choice, sometimes any: most examples get past parsing to the builders.
USUALLY = st.sampled_from([True, True, True, False])


@st.composite
def specs(draw: st.DrawFn) -> tuple[dict[str, Any], ConflictPolicySpec | None]:
    spec = copy.deepcopy(shop_spec())
    source = draw(st.sampled_from(sorted(SOURCES)))
    spec["source"] = {source: copy.deepcopy(SOURCES[source])}
    mode = spec["mode"] = draw(st.sampled_from(MODES))
    logical = False
    if source == "postgres":
        postgres = spec["source"]["postgres"]
        postgres["capture"] = draw(st.sampled_from(["triggers", "outbox", "logical"]))
        logical = postgres["capture"] == "logical"
        if mode == "incremental" or not draw(USUALLY):
            postgres["watermarkColumn"] = "updated_at"
    if source == "files":
        del spec["mappings"]
    elif draw(st.booleans()):
        spec["mappings"]["nodes"][0]["foreignKeys"] = [{"column": "owner", "references": "customer", "type": "OWNS"}]
    kinds = (
        [draw(st.sampled_from(sorted(TARGETS)))] if draw(USUALLY) else draw(st.sets(st.sampled_from(sorted(TARGETS))))
    )
    spec["target"] = {kind: copy.deepcopy(TARGETS[kind]) for kind in kinds}
    streaming = mode in ("continuous", "snapshotThenStream") and source == "postgres" and not logical
    if not (streaming if draw(USUALLY) else draw(st.booleans())):
        del spec["transport"]
    scheduled = mode in ("snapshot", "differential", "incremental")
    if scheduled if draw(USUALLY) else draw(st.booleans()):
        spec["schedule"] = "0 3 * * *"
    spec["workers"] = {"replicas": draw(st.integers(min_value=0, max_value=1 if draw(USUALLY) else 3))}
    spec["deletionPolicy"] = draw(st.sampled_from(["retain", "cleanup"]))
    spec["suspend"] = draw(st.booleans())
    policy = draw(st.sampled_from(POLICIES))
    if policy is not None:
        spec["conflictPolicyRef"] = {"name": "careful"}
    if policy is None or not draw(USUALLY):
        inline = draw(st.sampled_from(POLICIES))
        if inline is not None:
            spec["conflictPolicy"] = inline
    return spec, None if policy is None else ConflictPolicySpec.model_validate(policy)


@settings(max_examples=400, deadline=None)
@given(specs())
def test_every_spec_ends_in_children_or_an_invalid_spec_naming_the_field(
    made: tuple[dict[str, Any], ConflictPolicySpec | None],
) -> None:
    spec, policy = made
    body = {"kind": "SyncPipeline", "metadata": {"name": OWNER.name, "namespace": OWNER.namespace}, "spec": spec}
    problem = None
    try:
        built = build_pipeline(OWNER, parse_spec(body, SyncPipelineSpec), policy)
    except Invalid as exc:
        problem = str(exc)
    if problem is not None:
        assert problem.startswith("spec"), problem
        return
    assert built.manifests
    assert all(manifest["metadata"]["namespace"] == OWNER.namespace for manifest in built.manifests)


def test_a_policy_reference_on_a_pipeline_that_is_not_bidirectional_is_invalid_naming_it() -> None:
    spec = {**shop_spec(), "conflictPolicyRef": {"name": "careful"}}
    body = {"kind": "SyncPipeline", "metadata": {"name": OWNER.name, "namespace": OWNER.namespace}, "spec": spec}
    with pytest.raises(Invalid, match="conflictPolicyRef applies to mode bidirectional, not snapshotThenStream"):
        parse_spec(body, SyncPipelineSpec)
