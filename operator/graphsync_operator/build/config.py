"""The engine config a worker runs, rendered into a ConfigMap; secrets become env vars or files from their Secrets.

A `secretKeyRef` in the spec is never resolved by the operator: a password becomes an
environment variable of the worker (`valueFrom.secretKeyRef`), and the rendered config
names that variable; a file (a CA bundle, a client certificate or key, an SSH key or known
hosts) becomes a read-only Secret volume, and the rendered config names its path,
relative to the secrets directory. So no secret value is ever in a ConfigMap, a status or a log.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml

from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.build import names
from graphsync_operator.build.names import Owner

# The spec's file fields (a SecretFile, by its section and name): their secretKeyRefs become files, not
# environment variables. A unit test checks that every SecretFile of the spec is named here.
FILE_FIELDS = frozenset({("tls", "ca"), ("tls", "cert"), ("tls", "key"), ("ssh", "privateKey"), ("ssh", "knownHosts")})


@dataclass(frozen=True)
class SecretUse:
    """One secret the workers need: the spec field that names it, and the env var it becomes (or, for a file, the
    name its folder under the secrets directory is made from)."""

    field: str
    env: str
    secret: str
    key: str
    file: bool = False

    def env_var(self) -> dict[str, Any]:
        return {"name": self.env, "valueFrom": {"secretKeyRef": {"name": self.secret, "key": self.key}}}

    @property
    def folder(self) -> str:
        """Where under the secrets directory the file is (its path there: `<folder>/<key>`)."""
        return self.env.lower().replace("_", "-")

    def projection(self) -> dict[str, Any]:
        """This Secret key as a source of the workers' one projected secrets volume."""
        return {"secret": {"name": self.secret, "items": [{"key": self.key, "path": f"{self.folder}/{self.key}"}]}}


@dataclass(frozen=True)
class Rendered:
    document: str
    secrets: tuple[SecretUse, ...]

    @property
    def hash(self) -> str:
        """Changes whenever what the workers run changes (the config or where a secret comes from)."""
        digest = hashlib.sha256(self.document.encode())
        for use in self.secrets:
            digest.update(f"\0{use.env}\0{use.secret}\0{use.key}\0{use.file}".encode())
        return digest.hexdigest()[:16]


def render(spec: PipelineSpec) -> Rendered:
    uses: list[SecretUse] = []
    document = _replace_refs(spec.model_dump(mode="json", by_alias=True, exclude_none=True), "", uses)
    return Rendered(yaml.safe_dump(document, sort_keys=False), tuple(uses))


def _replace_refs(node: Any, path: str, uses: list[SecretUse]) -> Any:
    if isinstance(node, dict):
        ref = node.get("secretKeyRef")
        if isinstance(ref, dict):
            env = "GRAPHSYNC_SECRET_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_").upper()
            parent, _, last = path.rpartition(".")
            use = SecretUse(
                field=f"spec.{path}.secretKeyRef",
                env=env,
                secret=ref["name"],
                key=ref["key"],
                file=(parent.rpartition(".")[2], last) in FILE_FIELDS,
            )
            uses.append(use)
            return {"path": f"{use.folder}/{use.key}"} if use.file else {"env": env}
        return {key: _replace_refs(value, f"{path}.{key}" if path else key, uses) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_refs(item, f"{path}[{index}]", uses) for index, item in enumerate(node)]
    return node


def config_map(owner: Owner, rendered: Rendered) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            **owner.metadata(names.config_map(owner.name), names.labels(owner.name, "config")),
            "annotations": {names.CONFIG_HASH: rendered.hash},
        },
        "data": {"pipeline.yaml": rendered.document},
    }
