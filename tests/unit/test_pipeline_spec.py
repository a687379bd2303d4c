"""The pipeline spec and spec files: valid input parses, bad input names the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from graphsync.commands import specfile
from graphsync.spec.pipeline import Mode, PipelineSpec

BASE: dict[str, Any] = {
    "name": "shop",
    "source": {"postgres": {"url": "postgresql://app@db:5432/shop", "password": {"env": "PG_PASSWORD"}}},
    "transport": {"redisStreams": {"url": "redis://redis:6379/0"}},
    "target": {
        "neo4j": {"uri": "bolt://neo4j:7687", "password": {"secretKeyRef": {"name": "neo4j", "key": "password"}}}
    },
    "mappings": {"nodes": [{"name": "customer", "labels": ["Customer"], "key": "id"}]},
}


def with_(path: str, value: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(yaml.safe_dump(BASE))
    node = document
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return document


def test_defaults() -> None:
    spec = PipelineSpec.model_validate(BASE)
    assert spec.mode is Mode.CONTINUOUS
    assert spec.batch_size == 500
    assert spec.redis_streams.partitions == 4
    assert spec.postgres.schema_ == "graphsync"


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        (with_("mode", "sometimes"), "mode", "'sometimes' is not one of continuous, incremental"),
        (with_("batchSize", 0), "batchSize", "must be at least 1 (got 0)"),
        (with_("name", "Shop_1"), "name", "'Shop_1' is not a Kubernetes name"),
        (with_("source.postgres.url", "mysql://x"), "source.postgres.url", "e.g. postgresql://app@db.example"),
        (
            with_("source.postgres.password", {"env": "A", "secretKeyRef": {"name": "s", "key": "k"}}),
            "source.postgres.password",
            "exactly one",
        ),
        (with_("source.postgres.schema", "graph sync"), "source.postgres.schema", "not a valid identifier"),
        (with_("transport", None), "", "needs a transport"),
        (with_("mode", "incremental"), "", "watermarkColumn"),
        (with_("target.neo4j.uri", "http://x"), "target.neo4j.uri", "is not a Bolt URI (e.g. bolt://"),
        (with_("targett", {}), "targett", "is not a field here"),
    ],
)
def test_invalid_specs_name_the_field(document: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        PipelineSpec.model_validate(document)
    text = specfile.format_errors(error.value)
    assert message in text
    if field:
        assert f"  {field}" in text


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("source.postgres.url", "postgresql://app:hunter2@db:5432/shop"),
        ("source.postgres.url", "postgresql://app@db:5432/shop?sslmode=require&password=hunter2"),
        ("transport.redisStreams.url", "redis://:hunter2@redis:6379/0"),
        ("transport.redisStreams.url", "rediss://default:hunter2@redis:6380"),
        ("target.neo4j.uri", "neo4j+s://neo4j:hunter2@graph:7687"),
        ("target.falkordb.url", "redis://:hunter2@falkor:6379"),
        ("source.files.git.url", "https://bot:hunter2@git.example.com/kb.git"),
    ],
)
def test_a_password_in_a_url_is_refused_naming_the_field_and_never_echoed(field: str, url: str) -> None:
    document = with_(field, url)
    if field.startswith("target.falkordb"):
        del document["target"]["neo4j"]
    if field.startswith("source.files"):
        document = {"name": "kb", "source": {"files": {"git": {"url": url}}}, "target": BASE["target"]}
    with pytest.raises(ValidationError) as error:
        PipelineSpec.model_validate(document)
    text = specfile.format_errors(error.value)
    assert f"  {field}" in text
    assert "holds a password" in text
    assert "secretKeyRef" in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@db:5432/shop?sslmode=verify-full",
        "postgresql://db:5432/shop",
        "postgres://app@h1:5432,h2:5432/shop?target_session_attrs=read-write",
    ],
)
def test_a_url_with_a_user_and_no_password_is_accepted(url: str) -> None:
    assert PipelineSpec.model_validate(with_("source.postgres.url", url)).postgres.url == url


def test_spec_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(with_("batchSize", -5)))
    with pytest.raises(
        specfile.SpecError, match=r"pipeline.yaml: invalid pipeline spec:\n  batchSize: must be at least 1 \(got -5\)"
    ):
        specfile.load(path)
    path.write_text("source: [unclosed")
    with pytest.raises(specfile.SpecError, match="not valid YAML"):
        specfile.load(path)
    with pytest.raises(specfile.SpecError, match="No such file"):
        specfile.load(tmp_path / "missing.yaml")


def test_a_sync_pipeline_manifest_is_accepted_as_a_spec_file(tmp_path: Path) -> None:
    manifest = {
        "apiVersion": "graphsync.io/v1alpha1",
        "kind": "SyncPipeline",
        "metadata": {"name": "orders"},
        "spec": {k: v for k, v in BASE.items() if k != "name"},
    }
    path = tmp_path / "sp.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert specfile.load(path).name == "orders"
    assert specfile.load(path).identity == "orders"
    path.write_text(yaml.safe_dump({**manifest, "metadata": {"name": "orders", "namespace": "team-b"}}))
    assert specfile.load(path).identity == "team-b.orders"


def test_identity_is_namespace_and_name_and_never_collides_with_a_plain_name() -> None:
    plain = PipelineSpec.model_validate(BASE)
    assert plain.identity == "shop"
    a = PipelineSpec.model_validate({**BASE, "namespace": "a"})
    b = PipelineSpec.model_validate({**BASE, "namespace": "b"})
    assert {a.identity, b.identity, plain.identity} == {"a.shop", "b.shop", "shop"}
    with pytest.raises(ValidationError, match="namespace"):
        PipelineSpec.model_validate({**BASE, "namespace": "a.b"})


def test_secrets_resolve_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = PipelineSpec.model_validate(BASE)
    assert spec.postgres.password is not None
    with pytest.raises(ValueError, match="environment variable PG_PASSWORD is not set"):
        spec.postgres.password.resolve("source.postgres.password")
    monkeypatch.setenv("PG_PASSWORD", "s3cret")
    assert spec.postgres.password.resolve("source.postgres.password") == "s3cret"
    assert spec.neo4j.password is not None
    with pytest.raises(ValueError, match="resolved by the operator"):
        spec.neo4j.password.resolve("target.neo4j.password")


FILES: dict[str, Any] = {
    "name": "kb",
    "source": {"files": {"git": {"url": "https://git.example.com/kb.git", "ref": "main"}}},
    "target": {"falkordb": {"url": "redis://falkordb:6379", "graph": "kb"}},
    "mode": "incremental",
}


def test_a_files_source_needs_no_mappings_and_has_defaults() -> None:
    spec = PipelineSpec.model_validate(FILES)
    files = spec.files
    assert (files.workers, files.max_concurrent_writes, files.include) == (4, 2, ("*.json",))
    assert files.node_key == "id"
    assert files.model_copy(update={"identity": "content"}).node_key == "content_hash"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"mode": "continuous"}, "mode continuous does not apply to a files source; use snapshot, incremental"),
        ({"mappings": BASE["mappings"]}, "mappings: a files source takes labels and types from its documents"),
        ({"source": {"files": {"directory": "/kb", "git": {"url": "/repo"}}}}, "set exactly one of git or directory"),
        ({"source": {"files": {"directory": "kb"}}}, "source.files.directory"),
        ({"source": {"files": {"git": {"url": "/r", "ref": "--upload-pack=x"}}}}, "source.files.git.ref"),
        ({"source": {"files": {"directory": "/kb", "workers": 0}}}, "source.files.workers"),
        ({"source": {"files": {"directory": "/kb", "label": "Bad Label"}}}, "source.files.label"),
        ({"source": {"files": {"directory": "/kb", "parsers": [{"pattern": "*.x", "function": "os"}]}}}, "function"),
    ],
)
def test_a_bad_files_pipeline_names_the_field(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        PipelineSpec.model_validate({**FILES, **patch})
    assert message in str(error.value).replace("\n  ", ".").replace("\n", " ")


GRAPHS: dict[str, Any] = {
    "name": "mirror",
    "source": {"neo4j": {"uri": "bolt://neo4j:7687"}},
    "target": {"falkordb": {"url": "redis://falkordb:6379", "graph": "mirror"}},
    "mappings": {"nodes": [{"name": "person", "labels": ["Person"], "key": "id"}]},
    "mode": "bidirectional",
}


def test_a_bidirectional_pipeline_embeds_its_conflict_policy() -> None:
    spec = PipelineSpec.model_validate({**GRAPHS, "conflictPolicy": {"strategy": "manual"}})
    assert spec.conflict_policy is not None
    assert spec.conflict_policy.strategy.value == "manual"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {
                "mappings": {
                    "nodes": [{"name": "person", "labels": ["P"], "key": "id", "properties": {"exclude": ["x"]}}]
                }
            },
            "mappings.nodes[person].properties: a bidirectional pipeline maps every property under its own name",
        ),
        (
            {"mappings": {"nodes": [{"name": "person", "labels": ["P"], "key": "id", "keyProperty": "pid"}]}},
            "mappings.nodes[person].keyProperty: a bidirectional pipeline keeps the key's name",
        ),
        ({"mode": "snapshot", "conflictPolicy": {}}, "conflictPolicy applies to mode bidirectional, not snapshot"),
        ({"conflictPolicy": {"strategy": "sometimes"}}, "conflictPolicy.strategy"),
    ],
)
def test_a_bad_bidirectional_pipeline_names_the_field(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        PipelineSpec.model_validate({**GRAPHS, **patch})
    assert message in specfile.format_errors(error.value)


def test_a_bidirectional_postgres_pipeline_reads_both_sides_without_a_transport() -> None:
    with pytest.raises(ValidationError, match="transport: a bidirectional pipeline reads both sides directly"):
        PipelineSpec.model_validate({**BASE, "mode": "bidirectional"})
    spec = PipelineSpec.model_validate({**BASE, "mode": "bidirectional", "transport": None})
    assert spec.conflict_policy is None


def test_field_names_on_the_wire_are_the_documented_ones() -> None:
    document = PipelineSpec.model_validate(BASE).model_dump(by_alias=True, exclude_none=True)
    assert "neo4j" in document["target"]
    schema = PipelineSpec.model_json_schema(by_alias=True)
    assert "neo4j" in schema["$defs"]["Source"]["properties"]
    assert "neo4j" in schema["$defs"]["Target"]["properties"]
