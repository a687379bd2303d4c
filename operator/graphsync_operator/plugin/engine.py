"""`dlq`, `conflicts` and `history` for a SyncPipeline in the cluster: the engine's own commands, run here.

The pipeline's spec is rendered as the operator renders it for its workers (its
ConflictPolicy inlined, each `secretKeyRef` turned into an environment variable);
the plugin then gives those variables the values of the Secrets, read with the
user's credentials, so the engine connects as a worker would, from the user's machine.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import binascii
import getpass
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo4j.exceptions
import psycopg
import redis.exceptions
import yaml
from pydantic import ValidationError

from graphsync import preflight, probes
from graphsync.commands import checkpoints, conflicts, deadletter, history, output, schema
from graphsync.commands.specfile import format_errors
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync.spec.endpoints import SECRETS_DIR_ENV
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.api.specs import API_VERSION, SyncPipelineSpec
from graphsync_operator.build import config
from graphsync_operator.kube import Kube, KubeError
from graphsync_operator.plugin import address
from graphsync_operator.plugin.steer import PluginError

PROGRAM = "kubectl graphsync"
# A database the engine cannot reach from here: in-cluster names, most often, that need --address.
UNREACHABLE = (psycopg.OperationalError, redis.exceptions.ConnectionError, neo4j.exceptions.ServiceUnavailable)


@dataclass(frozen=True)
class Resolved:
    """The engine's spec of a pipeline, and the environment its secrets come from."""

    spec: PipelineSpec
    env: dict[str, str]
    # TLS material, by path relative to the secrets directory.
    files: dict[str, bytes] = field(default_factory=dict)


def pipeline_spec(resource: Mapping[str, Any]) -> SyncPipelineSpec:
    name = resource["metadata"]["name"]
    try:
        return SyncPipelineSpec.model_validate(resource.get("spec") or {})
    except ValidationError as exc:
        raise PluginError(f"SyncPipeline {name!r} has an invalid spec:\n{format_errors(exc)}") from None


def policy_spec(name: str, resource: Mapping[str, Any] | None) -> ConflictPolicySpec:
    if resource is None:
        raise PluginError(f"spec.conflictPolicyRef: ConflictPolicy {name!r} does not exist")
    try:
        return ConflictPolicySpec.model_validate(resource.get("spec") or {})
    except ValidationError as exc:
        raise PluginError(f"ConflictPolicy {name!r} has an invalid spec:\n{format_errors(exc)}") from None


def rendered(resource: Mapping[str, Any], policy: ConflictPolicySpec | None) -> config.Rendered:
    """The engine config the operator puts in the workers' ConfigMap, and the secrets it names."""
    return config.render(
        pipeline_spec(resource).engine_spec(resource["metadata"]["name"], resource["metadata"]["namespace"], policy)
    )


def resolve(
    resource: Mapping[str, Any],
    policy: ConflictPolicySpec | None,
    secrets: Mapping[str, Mapping[str, Any] | None],
) -> Resolved:
    """The pipeline as its workers run it, secrets taken from `secrets` (name -> Secret, None when missing)."""
    engine_config = rendered(resource, policy)
    env = {}
    files = {}
    for use in engine_config.secrets:
        secret = secrets.get(use.secret)
        if secret is None:
            raise PluginError(f"{use.field}: Secret {use.secret!r} does not exist (or you may not read it)")
        encoded = (secret.get("data") or {}).get(use.key)
        if encoded is None:
            raise PluginError(f"{use.field}: Secret {use.secret!r} has no key {use.key!r}")
        try:
            decoded = base64.b64decode(encoded, validate=True)
            if use.file:
                files[f"{use.folder}/{use.key}"] = decoded
            else:
                env[use.env] = decoded.decode()
        except (binascii.Error, UnicodeDecodeError):
            raise PluginError(f"{use.field}: Secret {use.secret!r} key {use.key!r} is not base64 text") from None
    return Resolved(PipelineSpec.model_validate(yaml.safe_load(engine_config.document)), env, files)


def fetch(kube: Kube, namespace: str, name: str) -> Resolved:
    """The pipeline, its policy and its Secrets from the cluster (one read per Secret)."""
    resource = kube.get(API_VERSION, "SyncPipeline", namespace, name)
    if resource is None:
        raise PluginError(f"SyncPipeline {name!r} not found in namespace {namespace!r}")
    spec = pipeline_spec(resource)
    policy = None
    if spec.conflict_policy_ref is not None:
        ref = spec.conflict_policy_ref.name
        policy = policy_spec(ref, kube.get(API_VERSION, "ConflictPolicy", namespace, ref))
    wanted = {use.secret for use in rendered(resource, policy).secrets}
    secrets = {secret: kube.get("v1", "Secret", namespace, secret) for secret in sorted(wanted)}
    return resolve(resource, policy, secrets)


EngineAct = Callable[[PipelineSpec, argparse.Namespace, Kube], int]


def _on_pipeline(act: EngineAct) -> Callable[[Kube, str, argparse.Namespace], int]:
    """An engine command run on the named SyncPipeline's spec, a database it cannot reach said with the hint."""

    def run(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
        spec = _prepared(kube, namespace, args)
        try:
            return act(spec, args, kube)
        except UNREACHABLE as exc:
            raise Unreachable(exc) from None

    return run


dead_letters = _on_pipeline(lambda spec, args, _: deadletter.act(spec, args, PROGRAM))
run_history = _on_pipeline(lambda spec, args, _: history.act(spec, args, PROGRAM))
run_checkpoints = _on_pipeline(lambda spec, args, _: checkpoints.act(spec, args, PROGRAM))
run_schema = _on_pipeline(lambda spec, args, _: schema.act(spec, args, PROGRAM))


def run_check(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    """`check NAME`: first what the cluster must give (the spec as the operator renders it, its policy, its Secrets
    readable), then the engine's checks of each server, as one list."""
    try:
        spec = _prepared(kube, namespace, args)
    except PluginError as exc:
        found = [preflight.failed("kubernetes", "spec and secrets", str(exc))]
    else:
        found = [preflight.ok("kubernetes", "spec and secrets", f"SyncPipeline {namespace}/{args.name}")]
        found += probes.run(spec)
    output.emit([item.data() for item in found], args.output, preflight.checks_text)
    return 1 if preflight.worst(found) is preflight.Outcome.FAILED else 0


held_conflicts = _on_pipeline(lambda spec, args, kube: conflicts.act(spec, args, PROGRAM, user=lambda: _user(kube)))


def _user(kube: Kube) -> str:
    """Who resolves a conflict: the cluster's name for the user; this machine's login on a cluster that cannot say
    (before Kubernetes 1.28)."""
    try:
        return kube.whoami()
    except KubeError:
        return getpass.getuser()


class Unreachable(Exception):
    """The pipeline's database did not answer here; says how to reach an in-cluster one."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(
            f"cannot reach the pipeline's database: {str(cause).strip()}\n"
            "From outside the cluster, forward its port (kubectl port-forward svc/NAME LOCAL:PORT)"
            " and map it with --address NAME:PORT=127.0.0.1:LOCAL"
        )


def _prepared(kube: Kube, namespace: str, args: argparse.Namespace) -> PipelineSpec:
    """The engine reads secrets from the environment, as in a worker pod: this process's is that environment.
    Its endpoints are moved where `--address` says they answer from here."""
    resolved = fetch(kube, namespace, args.name)
    spec = address.rewrite(resolved.spec, args.addresses)
    os.environ.update(resolved.env)
    if resolved.files:
        os.environ[SECRETS_DIR_ENV] = _private_files(resolved.files)
    return spec


def _private_files(files: Mapping[str, bytes]) -> str:
    """Secret files (TLS material, SSH keys) written where only this user reads them, for this process's life;
    the folder they are in."""
    folder = Path(tempfile.mkdtemp(prefix="graphsync-secrets-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(content)
    return str(folder)
