"""The config a worker runs: rendered into a ConfigMap, secrets referenced and never written (no servers)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.build import config
from tests.resources import shop_spec
from tests.unit.builders_data import HASH, NEO4J_ENV, OWNER, PG_ENV, REDIS_ENV, build, env_of, one

# --- secrets -----------------------------------------------------------------------------------------------


def test_the_config_map_names_env_vars_instead_of_secrets() -> None:
    built = build()
    document = one(built, "ConfigMap")["data"]["pipeline.yaml"]
    assert "secretKeyRef" not in document
    assert "pg-password" not in document
    assert "neo4j-password" not in document
    engine = yaml.safe_load(document)
    assert engine["name"] == "shop"
    assert engine["batchSize"] == 200
    assert engine["source"]["postgres"]["password"] == {"env": PG_ENV}
    assert engine["target"]["neo4j"]["password"] == {"env": NEO4J_ENV}
    assert "workers" not in engine
    assert "schedule" not in engine


def test_the_worker_gets_each_secret_from_its_secret_key() -> None:
    env = env_of(build())
    assert env[PG_ENV] == {"name": PG_ENV, "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "pg-password"}}}
    assert env[NEO4J_ENV] == {
        "name": NEO4J_ENV,
        "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "neo4j-password"}},
    }
    # Secrets arrive through valueFrom only: nothing a secret could be written into.
    for name in (PG_ENV, NEO4J_ENV):
        assert "value" not in env[name]


def test_the_rendered_config_can_be_read_back_by_the_engine() -> None:
    document = one(build(), "ConfigMap")["data"]["pipeline.yaml"]
    engine = PipelineSpec.model_validate(yaml.safe_load(document))
    assert engine.name == "shop"
    assert engine.postgres.password is not None
    assert engine.postgres.password.env == PG_ENV


def test_no_secret_value_appears_in_any_manifest() -> None:
    # The operator never reads Secrets' data; a password-looking literal must never appear in a child.
    text = json.dumps(build().manifests)
    assert "secretKeyRef" in text  # the env vars reference them ...
    assert not re.search(r'"value":\s*"[^"]*password', text, re.IGNORECASE)  # ... no plain value holds one
    assert '"kind": "Secret"' not in text


def test_a_pipeline_without_secrets_has_no_secret_env() -> None:
    spec = shop_spec(neo4j_password=False)
    del spec["source"]["postgres"]["password"]
    built = build(spec)
    assert built.rendered.secrets == ()
    assert not [name for name in env_of(built) if name.startswith("GRAPHSYNC_SECRET_")]


# --- config.render -----------------------------------------------------------------------------------------


def with_redis_password(spec: dict[str, Any], secret: str = "shop-redis", key: str = "password") -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["transport"]["redisStreams"]["password"] = {"secretKeyRef": {"name": secret, "key": key}}
    return spec


def render(spec: dict[str, Any]) -> config.Rendered:
    return config.render(SyncPipelineSpec.model_validate(spec).engine_spec("shop", "default"))


def test_refs_in_source_transport_and_target_each_get_their_own_env_var() -> None:
    rendered = render(with_redis_password(shop_spec()))
    uses = {use.env: use for use in rendered.secrets}
    assert set(uses) == {PG_ENV, REDIS_ENV, NEO4J_ENV}
    assert len(rendered.secrets) == 3
    assert uses[REDIS_ENV].secret == "shop-redis"
    assert uses[REDIS_ENV].key == "password"
    assert uses[REDIS_ENV].field == "spec.transport.redisStreams.password.secretKeyRef"
    assert uses[PG_ENV].field == "spec.source.postgres.password.secretKeyRef"
    assert uses[NEO4J_ENV].field == "spec.target.neo4j.password.secretKeyRef"
    document = yaml.safe_load(rendered.document)
    assert document["transport"]["redisStreams"]["password"] == {"env": REDIS_ENV}
    assert "secretKeyRef" not in rendered.document


def test_env_var_names_are_valid_for_a_container() -> None:
    for use in render(with_redis_password(shop_spec())).secrets:
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", use.env), use.env


def test_a_plain_env_reference_is_kept_as_it_is() -> None:
    spec = shop_spec()
    spec["source"]["postgres"]["password"] = {"env": "PGPASSWORD"}
    rendered = render(spec)
    assert [use.env for use in rendered.secrets] == [NEO4J_ENV]
    assert yaml.safe_load(rendered.document)["source"]["postgres"]["password"] == {"env": "PGPASSWORD"}


@pytest.mark.parametrize(
    ("secret", "key"),
    [("shop-redis-2", "password"), ("shop-redis", "other-key")],
)
def test_the_hash_follows_where_a_secret_comes_from(secret: str, key: str) -> None:
    before = render(with_redis_password(shop_spec()))
    after = render(with_redis_password(shop_spec(), secret=secret, key=key))
    # The document only names the env var, yet the pods must roll onto the other Secret.
    assert before.document == after.document
    assert before.hash != after.hash


def test_the_hash_is_stable_and_follows_the_document() -> None:
    assert render(shop_spec()).hash == render(shop_spec()).hash
    assert render(shop_spec()).hash != render({**shop_spec(), "batchSize": 201}).hash


def test_config_map_carries_the_document_and_hash() -> None:
    rendered = render(shop_spec())
    made = config.config_map(OWNER, rendered)
    assert made["metadata"]["name"] == "shop-pipeline"
    assert made["metadata"]["annotations"] == {HASH: rendered.hash}
    assert made["data"] == {"pipeline.yaml": rendered.document}
