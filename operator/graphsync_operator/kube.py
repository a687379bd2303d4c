"""The one module that talks to the Kubernetes API (outside kopf's own watches and status patches).

Children are written by server-side apply under one field manager, so applying the
same manifest again changes nothing, and fields other controllers own (the Deployment's
replica count under an autoscaler, say) are never fought over except where we set them.

Requests go through one of two transports. The operator and the plugin use the `kubernetes` client, which
reads every kind of kubeconfig (exec plugins, client certificates, OIDC). A worker only patches its Lease,
with its service account's token: it uses `tokens.TokenTransport` (the standard library), because the
`kubernetes` client made each worker pod 10% bigger for nothing it needs (importing the worker: 99 MiB peak RSS
with the client, 90 MiB without, medians of 5 runs; 34 MiB alone in a bare interpreter, where it shares less).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphsync_operator import metrics, tokens
from graphsync_operator.api.specs import API_VERSION
from graphsync_operator.build import ownership

if TYPE_CHECKING:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

FIELD_MANAGER = "graphsync-operator"


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API: `/api/v1` or `/apis/<group>/<version>`, its plural, namespaced or not."""

    prefix: str
    plural: str


KINDS: dict[tuple[str, str], Kind] = {
    ("v1", "ConfigMap"): Kind("/api/v1", "configmaps"),
    ("v1", "Secret"): Kind("/api/v1", "secrets"),
    ("v1", "Service"): Kind("/api/v1", "services"),
    ("v1", "ServiceAccount"): Kind("/api/v1", "serviceaccounts"),
    ("v1", "Pod"): Kind("/api/v1", "pods"),
    ("v1", "Event"): Kind("/api/v1", "events"),
    ("v1", "Namespace"): Kind("/api/v1", "namespaces"),
    ("apps/v1", "Deployment"): Kind("/apis/apps/v1", "deployments"),
    ("batch/v1", "CronJob"): Kind("/apis/batch/v1", "cronjobs"),
    ("batch/v1", "Job"): Kind("/apis/batch/v1", "jobs"),
    ("rbac.authorization.k8s.io/v1", "Role"): Kind("/apis/rbac.authorization.k8s.io/v1", "roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): Kind("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    ("coordination.k8s.io/v1", "Lease"): Kind("/apis/coordination.k8s.io/v1", "leases"),
    (API_VERSION, "SyncPipeline"): Kind(f"/apis/{API_VERSION}", "syncpipelines"),
    (API_VERSION, "ReconciliationJob"): Kind(f"/apis/{API_VERSION}", "reconciliationjobs"),
    (API_VERSION, "ConflictPolicy"): Kind(f"/apis/{API_VERSION}", "conflictpolicies"),
}


class KubeError(RuntimeError):
    """A request the API server refused; `status` is the HTTP status (404 for a missing object)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NotOwned(RuntimeError):
    """An object of a child's name exists and belongs to someone else: neither written nor deleted."""


class Kube:
    """A thin, typed door to the API server: plain dicts in and out."""

    def __init__(self, transport: tokens.Transport, manager: str = FIELD_MANAGER) -> None:
        self._transport = transport
        # Who the API server records as the writer of the fields we set (the plugin writes as its user).
        self._manager = manager

    @classmethod
    def connect(
        cls, *, config_file: str | None = None, context: str | None = None, manager: str = FIELD_MANAGER
    ) -> Kube:
        """In a pod, its service account; elsewhere KUBECONFIG (or ~/.kube/config), or the file and context given."""
        from kubernetes import client, config  # noqa: PLC0415 - only where used: workers never pay for it

        if os.environ.get("KUBERNETES_SERVICE_HOST") and config_file is None and context is None:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(config_file=config_file, context=context)  # type: ignore[no-untyped-call]
        return cls(_ClientTransport(client.ApiClient()), manager)

    @classmethod
    def connect_with_token(cls) -> Kube:
        """A worker's door: its service account (in a pod) or a kubeconfig holding a bearer token, without the
        `kubernetes` client; a kubeconfig it cannot read that way (exec, certificates) gets the full client."""
        endpoint = tokens.endpoint(os.environ)
        return cls(tokens.TokenTransport(endpoint)) if endpoint is not None else cls.connect()

    def _path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        where = KINDS[(api_version, kind)]
        scope = f"/namespaces/{namespace}" if namespace is not None else ""
        path = f"{where.prefix}{scope}/{where.plural}"
        return f"{path}/{name}" if name else path

    def _call(
        self,
        verb: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """`verb` (get, list, create, apply, patch, delete) is what the request counts as in the metrics."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        code = "<error>"
        try:
            status, data = self._transport.request(method, path, query or [], headers, body)
            code = str(status)
        except tokens.Refused as exc:
            code = str(exc.status or "<error>")
            raise KubeError(exc.status, exc.message) from None
        finally:
            metrics.API_REQUESTS.labels(verb, resource_of(path), code).inc()
        if status >= 400:
            raise KubeError(status, _message(data))
        return json.loads(data) if data else {}

    def proxy_get(
        self, namespace: str, pod: str, port: int, path: str, query: list[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        """GET `path` of a pod's own HTTP server through the API server's pod proxy (RBAC: get pods/proxy); its
        JSON object, or KubeError with the pod's (or the API server's) message."""
        proxied = f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path}"
        return self._call("proxy", "GET", proxied, query=query)

    def whoami(self) -> str:
        """The user name the API server knows these credentials by (a SelfSubjectReview, as `kubectl auth whoami`)."""
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        reviewed = self._call("create", "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=review)
        return str(reviewed["status"]["userInfo"]["username"])

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of one namespaced object; returns the object as stored."""
        meta = manifest["metadata"]
        path = self._path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        return self._call(
            "apply",
            "PATCH",
            path,
            body=manifest,
            query=[("fieldManager", self._manager), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )

    def check_owned(self, manifest: dict[str, Any]) -> None:
        """Raises NotOwned when an object of this child's name exists without its resource's owner reference."""
        meta = manifest["metadata"]
        existing = self.get(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        if not ownership.owned_by(existing, ownership.owner_uid(manifest)):
            assert existing is not None
            raise NotOwned(ownership.conflict(manifest["kind"], meta["name"], existing))

    def delete_owned(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> bool:
        """Delete the child only if it is the resource `uid`'s (the uid a precondition, so an object made
        under the same name meanwhile is not taken); False when there was none, or it is someone else's."""
        existing = self.get(api_version, kind, namespace, name)
        if existing is None or not ownership.owned_by(existing, uid):
            if existing is not None:
                log.warning("left %s %s/%s alone: %s", kind, namespace, name, ownership.conflict(kind, name, existing))
            return False
        return self.delete(api_version, kind, namespace, name, precondition_uid=existing["metadata"]["uid"])

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, None when there is none; `namespace` None for a cluster-scoped kind."""
        try:
            return self._call("get", "GET", self._path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str | None, selector: str = "", *, fields: str = ""
    ) -> list[dict[str, Any]]:
        """The objects of a kind in `namespace`, or in every namespace (or a cluster-scoped kind's all) when it
        is None; `selector` on labels, `fields` on the fields the API server indexes for the kind."""
        query = [("labelSelector", selector)] if selector else []
        query += [("fieldSelector", fields)] if fields else []
        items: list[dict[str, Any]] = self._call("list", "GET", self._path(api_version, kind, namespace), query=query)[
            "items"
        ]
        return items

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create; None when an object of that name already exists (creating is then a no-op)."""
        meta = manifest["metadata"]
        try:
            created = self._call(
                "create", "POST", self._path(manifest["apiVersion"], manifest["kind"], meta["namespace"]), body=manifest
            )
        except KubeError as exc:
            if exc.status == 409:
                return None
            raise
        if manifest["kind"] == "Event":
            metrics.EVENTS.labels(manifest.get("type", ""), manifest.get("reason", "")).inc()
        return created

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any], *, resource_version: str
    ) -> bool:
        """Merge-patch the status subresource of the object as it was at `resource_version`; False when the
        object changed since (the caller's view was stale, so its status is not written)."""
        try:
            self._call(
                "patch",
                "PATCH",
                self._path(api_version, kind, namespace, name) + "/status",
                body={"metadata": {"resourceVersion": resource_version}, "status": status},
                content_type="application/merge-patch+json",
            )
        except KubeError as exc:
            if exc.status in (404, 409):
                metrics.STATUS_WRITES.labels(kind, "conflict").inc()
                return False
            raise
        metrics.STATUS_WRITES.labels(kind, "written").inc()
        return True

    def delete(
        self, api_version: str, kind: str, namespace: str, name: str, *, precondition_uid: str | None = None
    ) -> bool:
        """Delete in the background (dependents collected by the cluster); False when it was already gone (or,
        with `precondition_uid`, replaced by another object of that name)."""
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if precondition_uid is not None:
            body["preconditions"] = {"uid": precondition_uid}
        try:
            self._call("delete", "DELETE", self._path(api_version, kind, namespace, name), body=body)
        except KubeError as exc:
            if exc.status == 404 or (exc.status == 409 and precondition_uid is not None):
                return False
            raise
        return True

    def merge_patch(self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._call(
            "patch",
            "PATCH",
            self._path(api_version, kind, namespace, name),
            body=patch,
            query=[("fieldManager", self._manager)],
            content_type="application/merge-patch+json",
        )

    def patch_annotations(self, api_version: str, kind: str, namespace: str, name: str, values: dict[str, Any]) -> None:
        """Set (or, with None, remove) these annotations only; other writers' annotations are kept."""
        self.merge_patch(api_version, kind, namespace, name, {"metadata": {"annotations": values}})


def default_namespace(*, config_file: str | None = None, context: str | None = None) -> str:
    """The namespace a kubeconfig context names (as kubectl uses it when -n is not given); "default" if none."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and config_file is None and context is None:
        try:
            return Path(_POD_NAMESPACE).read_text().strip()
        except OSError:
            return "default"
    from kubernetes import config  # noqa: PLC0415 - only where used: workers never pay for it

    contexts, active = config.list_kube_config_contexts(config_file=config_file)  # type: ignore[no-untyped-call]
    chosen = next((c for c in contexts if c["name"] == context), None) if context else active
    if chosen is None:
        raise KubeError(0, f"context {context!r} is not in the kubeconfig")
    return str(chosen.get("context", {}).get("namespace") or "default")


_POD_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def resource_of(path: str) -> str:
    """The resource (and subresource) a request path names, as the API server's own metrics label it:
    /api/v1/namespaces/NS/pods/NAME -> pods; /apis/G/V/PLURAL/NAME/status -> PLURAL/status."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    return "/".join(rest[:1] + rest[2:3])


class _ClientTransport:
    """Requests through the `kubernetes` client, which authenticates as any kubeconfig says."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api

    def request(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: Any
    ) -> tuple[int, bytes]:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415 - as in connect

        method_, url, headers_, body_, _ = self._api.param_serialize(
            method, path, query_params=query, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        try:
            response = self._api.call_api(method_, url, header_params=headers_, body=body_, _request_timeout=(5, 30))
            response.read()  # type: ignore[no-untyped-call]
        except ApiException as exc:
            raise tokens.Refused(int(exc.status or 0), _reason(exc)) from None
        return int(response.status), bytes(response.data or b"")


def _reason(exc: ApiException) -> str:
    return _message(exc.body) or str(exc.reason or exc)


def _message(body: bytes | str | None) -> str:
    """The API server's own explanation (a Status object's message), which names the field at fault."""
    try:
        found = json.loads(body or "{}").get("message")
    except ValueError:
        return str(body)
    return str(found or "")
