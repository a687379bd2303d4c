"""The operator's one API client, made on first use: importing the handlers needs no cluster."""

from __future__ import annotations

from graphsync_operator.kube import Kube

_kube: Kube | None = None


def kube() -> Kube:
    global _kube  # noqa: PLW0603 - one API client per operator process, made on first use
    if _kube is None:
        _kube = Kube.connect()
    return _kube
