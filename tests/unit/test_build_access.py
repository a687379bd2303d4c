"""What each pipeline's workers may do in the cluster: report on their own Lease, nothing else (no servers)."""

from __future__ import annotations

from tests.unit.builders_data import build, one

# --- access: each pipeline's workers may report on their own Lease, nothing else ----------------------------


def test_the_role_allows_only_reporting_on_its_own_lease() -> None:
    role = one(build(), "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["shop-sync-progress"],
            "verbs": ["get", "patch"],
        }
    ]


def test_the_role_binding_binds_the_service_account_of_its_namespace() -> None:
    binding = one(build(), "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "shop-sync"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "shop-sync", "namespace": "team-a"}]


def test_the_lease_is_created_empty_for_the_workers_to_annotate() -> None:
    lease = one(build(), "Lease")
    assert lease["spec"] == {}
    assert "annotations" not in lease["metadata"]
