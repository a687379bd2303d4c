"""What must hold before a resource's children are written: the Secrets they read exist, and their names are free."""

from __future__ import annotations

from typing import Any

from graphsync_operator.api.reasons import Reason
from graphsync_operator.build import children
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.controller.handlers.specs import Missing
from graphsync_operator.kube import NotOwned


def claim(manifests: list[dict[str, Any]]) -> None:
    """Every child's name is free or already the resource's (Missing, reason NameTaken, naming the object, when
    another owner's object holds it; retried, as it may be removed)."""
    for manifest in manifests:
        try:
            kube().check_owned(manifest)
        except NotOwned as exc:
            raise Missing(Reason.NAME_TAKEN, f"{manifest['kind']} {manifest['metadata']['name']}: {exc}") from None


def check_secrets(namespace: str, built: children.Children) -> None:
    """Every Secret key the spec names is there (Missing, reason SecretMissing, naming the field, when not)."""
    read: dict[str, dict[str, Any] | None] = {}
    for use in built.rendered.secrets:
        if use.secret not in read:  # one request per Secret, however many keys of it the spec names
            read[use.secret] = kube().get("v1", "Secret", namespace, use.secret)
        secret = read[use.secret]
        if secret is None:
            raise Missing(Reason.SECRET_MISSING, f"{use.field}: Secret {use.secret!r} does not exist")
        if use.key not in (secret.get("data") or {}):
            raise Missing(Reason.SECRET_MISSING, f"{use.field}: Secret {use.secret!r} has no key {use.key!r}")
