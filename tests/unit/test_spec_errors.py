"""Every kind of refusal the spec models make, as a person reads it (no servers): the field's path, what is
wrong, a right example for a value of the wrong form; never pydantic's own wording."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from graphsync.spec import errors
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.controller.handlers.specs import Invalid, parse_spec
from tests.e2e.test_malformed_sweep import BASES, MODELS, SWEEP
from tests.resources import resource, shop_spec

JARGON = (
    "Value error",
    "Assertion failed",
    "Input should",
    "String should",
    "Tuple should",
    "List should",
    "Field required",
    "Extra inputs",
    "(top level)",
    "constrained-",
    "function-",
    "pattern '",
    "type=",
    "pydantic",
)


# Pydantic reads "yes" as true; the CRD's schema (a boolean) refuses it before the operator sees it.
TAKEN_BY_THE_MODEL = {"suspend as a word"}


def refusal(kind: str, spec: dict[str, Any]) -> str:
    with pytest.raises(Invalid) as refused:
        parse_spec(resource(kind, "shop", "default", spec), MODELS[kind])
    return str(refused.value)


@pytest.mark.parametrize(("kind", "what", "change", "field"), SWEEP, ids=[case[1] for case in SWEEP])
def test_every_refusal_names_the_field_in_plain_words(kind: str, what: str, change: Any, field: str) -> None:
    spec = copy.deepcopy(BASES[kind]())
    change(spec)
    if what in TAKEN_BY_THE_MODEL:
        MODELS[kind].model_validate(spec)
        return
    message = refusal(kind, spec)
    assert field.rsplit(".", maxsplit=1)[-1] in message, message
    for word in JARGON:
        assert word not in message, f"{what}: {message}"


def test_a_value_of_the_wrong_form_says_what_a_right_one_looks_like() -> None:
    spec = shop_spec()
    spec["source"]["postgres"]["url"] = "mysql://db.example/shop"
    assert refusal("SyncPipeline", spec) == (
        "spec.source.postgres.url: 'mysql://db.example/shop' is not a PostgreSQL URL with a user and no password"
        " (e.g. postgresql://app@db.example:5432/shop; the password goes in password)"
    )


def test_a_field_of_two_forms_is_named_once_with_both_problems() -> None:
    spec = shop_spec()
    spec["workers"] = {"resources": {"limits": {"cpu": "lots"}}}
    message = refusal("SyncPipeline", spec)
    assert message.count("spec.workers.resources.limits.cpu:") == 1, message
    assert "must be a whole number or 'lots' is not a Kubernetes quantity (e.g. 500m, 1Gi, 2)" in message


def test_a_rule_over_several_fields_is_placed_at_the_field_it_names() -> None:
    spec = shop_spec()
    spec["transport"]["redisStreams"]["tls"] = {}
    assert (
        refusal("SyncPipeline", spec) == "spec.transport.redisStreams.url: with tls set, use rediss:// (the TLS scheme)"
    )


def test_lists_are_indexed_as_in_the_document() -> None:
    assert errors.path(["mappings", "nodes", 0, "labels", 1], "spec") == "spec.mappings.nodes[0].labels[1]"
    assert errors.path(["resources", "limits", "cpu", "function-after[check(), str]"]) == "resources.limits.cpu"
    assert errors.path(["scope", "constrained-str"]) == "scope"
    # A user's own key stays, whatever it holds.
    assert errors.path(["entities", "first-name", "strategy"], "spec") == "spec.entities.first-name.strategy"
    # A map's key at fault: the key is the place (pydantic adds "[key]" after it).
    assert errors.path(["entities", "not a name", "[key]"], "spec") == "spec.entities.not a name"
    assert errors.path([]) == ""


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("pattern"), str):
            yield schema["pattern"]
        for value in schema.values():
            yield from _patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _patterns(value)


@pytest.mark.parametrize("model", [PipelineSpec, *MODELS.values()], ids=lambda m: m.__name__)
def test_every_pattern_a_spec_field_requires_has_an_example(model: type[BaseModel]) -> None:
    missing = sorted(set(_patterns(model.model_json_schema())) - set(errors.HINTS))
    assert missing == []


def test_a_spec_file_error_is_said_the_same_way() -> None:
    with pytest.raises(ValidationError) as error:
        PipelineSpec.model_validate({**shop_spec(), "name": "shop", "batchSize": "ten"})
    assert errors.messages(error.value) == ["batchSize: must be a whole number"]
