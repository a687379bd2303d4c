"""TLS material by reference: a `tls` section's Secret keys become read-only files in the worker, named by path in
the rendered config; the spec's rules name the field; the plugin writes them where only its user reads (no servers)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import neo4j
import pytest
import yaml
from pydantic import ValidationError

from graphsync import connect
from graphsync.spec.endpoints import (
    SECRETS_DIR_ENV,
    FalkorDBTarget,
    Neo4jTarget,
    PostgresSource,
    PostgresTls,
    RedisStreams,
    ServerTls,
)
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.build import names
from graphsync_operator.plugin import engine
from tests.resources import resource, shop_spec
from tests.unit.builders_data import build, config_hash, container, env_of, one, pod_spec

TLS = {
    "mode": "verify-full",
    "ca": {"secretKeyRef": {"name": "db-tls", "key": "ca.crt"}},
    "cert": {"secretKeyRef": {"name": "db-tls", "key": "tls.crt"}},
    "key": {"secretKeyRef": {"name": "db-tls", "key": "tls.key"}},
}
URL = "postgresql://graphsync@db:5432/shop"


def with_tls(section: dict[str, Any] = TLS) -> dict[str, Any]:
    spec = shop_spec()
    spec["source"]["postgres"]["tls"] = section
    return spec


def test_tls_secrets_become_read_only_files_named_by_path_in_the_config() -> None:
    built = build(with_tls())
    engine_spec = yaml.safe_load(one(built, "ConfigMap")["data"]["pipeline.yaml"])
    folder = "graphsync-secret-source-postgres-tls"
    assert engine_spec["source"]["postgres"]["tls"] == {
        "mode": "verify-full",
        "ca": {"path": f"{folder}-ca/ca.crt"},
        "cert": {"path": f"{folder}-cert/tls.crt"},
        "key": {"path": f"{folder}-key/tls.key"},
    }
    env = env_of(built)
    assert env[SECRETS_DIR_ENV] == {"name": SECRETS_DIR_ENV, "value": names.SECRETS_DIR}
    # Files, not environment variables.
    assert not [name for name in env if name.startswith("GRAPHSYNC_SECRET_SOURCE_POSTGRES_TLS")]
    volumes = {v["name"]: v for v in pod_spec(built)["volumes"]}
    assert volumes["secrets"]["projected"] == {
        "defaultMode": 0o440,
        "sources": [
            {"secret": {"name": "db-tls", "items": [{"key": key, "path": f"{folder}-{part}/{key}"}]}}
            for part, key in (("ca", "ca.crt"), ("cert", "tls.crt"), ("key", "tls.key"))
        ],
    }
    mounts = {m["name"]: m for m in container(built)["volumeMounts"]}
    assert mounts["secrets"] == {"name": "secrets", "mountPath": names.SECRETS_DIR, "readOnly": True}
    # The engine reads the rendered config back; no certificate or key is in any manifest.
    PipelineSpec.model_validate(engine_spec)
    assert "BEGIN" not in json.dumps(built.manifests)


def test_the_config_hash_follows_where_tls_files_come_from() -> None:
    moved = json.loads(json.dumps(TLS))
    moved["ca"]["secretKeyRef"]["name"] = "other-tls"
    assert config_hash(build(with_tls())) != config_hash(build(with_tls(moved)))
    assert config_hash(build(with_tls())) == config_hash(build(with_tls()))


def test_a_pipeline_without_tls_mounts_no_secret() -> None:
    built = build()
    assert SECRETS_DIR_ENV not in env_of(built)
    assert "secrets" not in {v["name"] for v in pod_spec(built)["volumes"]}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"mode": "verify-ca"}, "mode verify-ca checks the server's certificate: set ca"),
        ({"mode": "require", "cert": {"path": "/c.crt"}}, "cert and key go together"),
        (
            {"ca": {"path": "/ca.crt", "secretKeyRef": {"name": "a", "key": "b"}}},
            "set exactly one of path or secretKeyRef",
        ),
        ({"ca": {"path": "a file"}}, "tls.ca.path"),
        ({"mode": "sometimes"}, "tls.mode"),
    ],
)
def test_tls_rules_name_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PostgresSource.model_validate({"url": URL, "tls": section})
    assert message in str(caught.value)


def test_tls_parameters_in_the_url_and_in_tls_are_refused() -> None:
    with pytest.raises(ValidationError, match="go in tls, not in the URL"):
        PostgresSource.model_validate({"url": f"{URL}?sslmode=require", "tls": {"mode": "require"}})
    # Without a tls section the URL may say it, as libpq allows.
    PostgresSource.model_validate({"url": f"{URL}?sslmode=require"})


def test_files_resolve_against_the_secrets_folder_and_a_missing_one_names_its_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca.crt").write_text("x")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    tls = PostgresTls.model_validate({"ca": {"path": "ca/ca.crt"}, "cert": {"path": "c.crt"}, "key": {"path": "c.key"}})
    with pytest.raises(ValueError, match=r"source.postgres.tls.cert: no file at .*c.crt"):
        tls.conninfo("source.postgres.tls")
    only_ca = PostgresTls.model_validate({"mode": "verify-ca", "ca": {"path": "ca/ca.crt"}})
    assert only_ca.conninfo("f") == {"sslmode": "verify-ca", "sslrootcert": str(tmp_path / "ca" / "ca.crt")}
    absolute = PostgresTls.model_validate({"ca": {"path": str(tmp_path / "ca" / "ca.crt")}})
    assert absolute.conninfo("f")["sslrootcert"] == str(tmp_path / "ca" / "ca.crt")


def test_the_plugin_writes_tls_files_only_its_user_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = resource("SyncPipeline", "shop", "apps", with_tls())
    data = {"ca.crt": b"CA", "tls.crt": b"CERT", "tls.key": b"KEY", "pg-password": b"pw", "neo4j-password": b"pw2"}
    encoded = {"data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
    resolved = engine.resolve(pipeline, None, {"db-tls": encoded, "shop-db": encoded})
    assert resolved.files == {
        "graphsync-secret-source-postgres-tls-ca/ca.crt": b"CA",
        "graphsync-secret-source-postgres-tls-cert/tls.crt": b"CERT",
        "graphsync-secret-source-postgres-tls-key/tls.key": b"KEY",
    }
    folder = Path(engine._private_files(resolved.files))
    key = folder / "graphsync-secret-source-postgres-tls-key" / "tls.key"
    assert key.read_bytes() == b"KEY"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert oct(os.stat(folder).st_mode & 0o777) == "0o700"
    monkeypatch.setenv(SECRETS_DIR_ENV, str(folder))
    tls = resolved.spec.postgres.tls
    assert tls is not None
    assert tls.conninfo("source.postgres.tls")["sslkey"] == str(key)


NEO4J_TLS = {
    "ca": {"secretKeyRef": {"name": "graph-tls", "key": "ca.crt"}},
    "cert": {"secretKeyRef": {"name": "graph-tls", "key": "tls.crt"}},
    "key": {"secretKeyRef": {"name": "graph-tls", "key": "tls.key"}},
}


def test_a_neo4j_targets_tls_secrets_become_files_too() -> None:
    spec = shop_spec()
    spec["target"]["neo4j"]["tls"] = NEO4J_TLS
    built = build(spec)
    engine_spec = yaml.safe_load(one(built, "ConfigMap")["data"]["pipeline.yaml"])
    folder = "graphsync-secret-target-neo4j-tls"
    assert engine_spec["target"]["neo4j"]["tls"] == {
        "ca": {"path": f"{folder}-ca/ca.crt"},
        "cert": {"path": f"{folder}-cert/tls.crt"},
        "key": {"path": f"{folder}-key/tls.key"},
    }
    sources = {v["name"]: v for v in pod_spec(built)["volumes"]}["secrets"]["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == ["graph-tls"] * 3
    PipelineSpec.model_validate(engine_spec)
    assert "BEGIN" not in json.dumps(built.manifests)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"uri": "bolt+s://g:7687", "tls": {}}, "uri: with tls set, use bolt:// or neo4j://"),
        ({"uri": "neo4j+ssc://g:7687", "tls": {}}, "uri: with tls set, use bolt:// or neo4j://"),
        ({"uri": "bolt://g:7687", "tls": {"cert": {"path": "/c.crt"}}}, "cert and key go together"),
        ({"uri": "bolt://g:7687", "tls": {"ca": {"path": "a file"}}}, "tls.ca.path"),
    ],
)
def test_neo4j_tls_rules_name_the_field(target: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Neo4jTarget.model_validate(target)
    assert message in str(caught.value)


def test_a_neo4j_tls_section_without_a_ca_trusts_the_systems_and_a_missing_file_names_its_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    target = Neo4jTarget.model_validate({"uri": "bolt://g:7687", "tls": {}})
    assert isinstance(connect.neo4j_tls(target.tls, "target.neo4j.tls")["trusted_certificates"], neo4j.TrustSystemCAs)
    missing = Neo4jTarget.model_validate({"uri": "bolt://g:7687", "tls": {"ca": {"path": "ca.crt"}}})
    with pytest.raises(ValueError, match=r"target.neo4j.tls.ca: no file at .*ca.crt"):
        connect.neo4j_driver(missing)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (RedisStreams, {"url": "redis://r:6379", "tls": {}}),
        (FalkorDBTarget, {"url": "redis://f:6379", "graph": "g", "tls": {}}),
    ],
)
def test_redis_tls_needs_the_tls_scheme(model: type[RedisStreams | FalkorDBTarget], fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"url: with tls set, use rediss://"):
        model.model_validate(fields)
    model.model_validate({**fields, "url": fields["url"].replace("redis://", "rediss://")})


def test_redis_tls_settings_name_the_files_and_check_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ca.crt", "c.crt", "c.key"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    tls = ServerTls.model_validate({"ca": {"path": "ca.crt"}, "cert": {"path": "c.crt"}, "key": {"path": "c.key"}})
    assert connect.redis_tls(tls, "transport.redisStreams.tls") == {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": str(tmp_path / "ca.crt"),
        "ssl_certfile": str(tmp_path / "c.crt"),
        "ssl_keyfile": str(tmp_path / "c.key"),
    }
    assert connect.redis_tls(None, "f") == {}
    # No CA: the system's; a missing file names its field.
    assert "ssl_ca_certs" not in connect.redis_tls(ServerTls(), "f")
    with pytest.raises(ValueError, match=r"target.falkordb.tls.ca: no file at"):
        connect.redis_tls(ServerTls.model_validate({"ca": {"path": "nope.crt"}}), "target.falkordb.tls")


def test_a_transports_tls_secrets_become_files() -> None:
    spec = shop_spec()
    spec["transport"] = {"redisStreams": {"url": "rediss://r:6380", "tls": NEO4J_TLS}}
    spec["mode"] = "continuous"
    built = build(spec)
    engine_spec = yaml.safe_load(one(built, "ConfigMap")["data"]["pipeline.yaml"])
    assert engine_spec["transport"]["redisStreams"]["tls"]["key"] == {
        "path": "graphsync-secret-transport-redisstreams-tls-key/tls.key"
    }
