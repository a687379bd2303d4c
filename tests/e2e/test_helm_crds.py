"""The chart's CRDs on the real control plane: `helm upgrade` changes a CRD and the API server serves the change,
`helm uninstall` leaves the CRDs (crds.keep), and CRDs applied before with kubectl are taken over by a release
once labelled and annotated for it (the migration docs/operations/upgrade.md describes).

The session's CRDs are shared with every other test, so this one restores them as crds/ has them at the end."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from graphsync_operator.api import crdfiles
from graphsync_operator.api.crds import all_crds
from tests.conftest import eventually
from tests.e2e.chart import CHART, SAMPLES, Helm
from tests.e2e.conftest import CRDS
from tests.e2e.helpers import ok

pytestmark = pytest.mark.e2e

RELEASE = "graphsync"
CRD_NAMES = [f"{Path(name).stem}.graphsync.io" for name in all_crds()]
SYNCPIPELINES = "syncpipelines.graphsync.io"


def changed_chart(tmp_path: Path) -> Path:
    """A copy of the chart whose SyncPipeline CRD (as the generator writes it) has one more printer column and
    one more spec field: what a new release of the chart brings."""
    chart = tmp_path / "graphsync"
    shutil.copytree(CHART, chart)
    manifest = copy.deepcopy(all_crds()["syncpipelines.yaml"])
    version = manifest["spec"]["versions"][0]
    version["additionalPrinterColumns"].append({"name": "Probe", "type": "string", "jsonPath": ".spec.upgradeProbe"})
    version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["upgradeProbe"] = {
        "type": "string",
        "description": "a field the chart's next release adds (a test's)",
    }
    (chart / "templates" / "crds" / "syncpipelines.yaml").write_text(crdfiles.chart_template(manifest))
    return chart


def probe_pipeline() -> str:
    """The sample pipeline with the new field set."""
    sample = yaml.safe_load((SAMPLES / "syncpipeline-postgres-neo4j.yaml").read_text())
    sample["metadata"]["name"] = "probe"
    sample["spec"]["upgradeProbe"] = "served"
    return json.dumps(sample)


def crd(kube: Service, name: str) -> dict[str, Any]:
    return dict(json.loads(ok(kubectl(kube.env, "get", "crd", name, "-o", "json"))))


def adopt(kube: Service, namespace: str) -> None:
    """What Helm needs to take over objects it did not make: its label and the release's annotations."""
    for name in CRD_NAMES:
        ok(kubectl(kube.env, "label", "--overwrite", "crd", name, "app.kubernetes.io/managed-by=Helm"))
        ok(
            kubectl(
                kube.env,
                "annotate",
                "--overwrite",
                "crd",
                name,
                f"meta.helm.sh/release-name={RELEASE}",
                f"meta.helm.sh/release-namespace={namespace}",
            )
        )


def served_columns(kube: Service, namespace: str) -> list[str]:
    """The columns the API server prints for SyncPipelines (server-side printing: the CRD it serves now)."""
    return ok(kubectl(kube.env, "get", "syncpipelines", "-n", namespace)).splitlines()[0].split()


def test_helm_upgrade_changes_a_crd_and_uninstall_keeps_them(
    kube: Service, helm: Helm, graphsync_crds: None, namespace: str, tmp_path: Path
) -> None:
    chart = [RELEASE, "-n", namespace, "--set", "replicas=0"]  # no operator pod: the CRDs are the subject
    # Without taking them over, a release refuses CRDs another manager made, naming the way out.
    refused = helm("install", RELEASE, str(CHART), "-n", namespace, "--set", "replicas=0")
    assert refused.returncode != 0
    assert "invalid ownership metadata" in refused.stderr
    assert 'missing key "app.kubernetes.io/managed-by"' in refused.stderr
    try:
        adopt(kube, namespace)
        ok(helm("install", *chart[:1], str(CHART), *chart[1:]))
        installed = crd(kube, SYNCPIPELINES)
        assert installed["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert installed["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        # The field is not there yet: kubectl's strict validation (the API server's) refuses it.
        unknown = kubectl(kube.env, "apply", "-n", namespace, "-f", "-", input=probe_pipeline())
        assert unknown.returncode != 0
        assert 'unknown field "spec.upgradeProbe"' in unknown.stderr

        ok(helm("upgrade", *chart[:1], str(changed_chart(tmp_path)), *chart[1:]))

        # The API server serves the upgraded CRD: the field is accepted and kept, the column printed.
        def accepted() -> bool:
            return kubectl(kube.env, "apply", "-n", namespace, "-f", "-", input=probe_pipeline()).returncode == 0

        eventually(accepted, "the upgraded CRD accepting spec.upgradeProbe")
        kept = ok(kubectl(kube.env, "get", "sp", "probe", "-n", namespace, "-o", "jsonpath={.spec.upgradeProbe}"))
        assert kept == "served"
        assert "PROBE" in served_columns(kube, namespace)

        # Back to this chart: the CRD as the models make it again (an upgrade removes what it no longer renders).
        ok(helm("upgrade", *chart[:1], str(CHART), *chart[1:]))
        eventually(lambda: "PROBE" not in served_columns(kube, namespace), "the column gone")
        assert served_columns(kube, namespace)[0] == "NAME"
        properties = crd(kube, SYNCPIPELINES)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        assert "upgradeProbe" not in properties["spec"]["properties"]

        # Uninstalling leaves the CRDs (and so every resource of theirs), as crds.keep says.
        ok(helm("uninstall", RELEASE, "-n", namespace))
        for name in CRD_NAMES:
            assert crd(kube, name)["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    finally:
        helm("uninstall", RELEASE, "-n", namespace)
        # The CRDs exactly as crds/ has them, for the other tests (replace: no Helm label or annotation left over).
        ok(kubectl(kube.env, "replace", "-f", str(CRDS)))


def test_crds_keep_false_lets_uninstall_remove_them_from_the_rendering(helm: Helm) -> None:
    """Not live (deleting the CRDs would delete every other test's resources): without keep, the CRDs carry no
    resource policy, so `helm uninstall` deletes them; crds.enabled=false renders none."""

    def crds(*values: str) -> list[dict[str, Any]]:
        sets = [arg for value in values for arg in ("--set", value)]
        rendered = ok(helm("template", RELEASE, str(CHART), "-n", "ops", *sets))
        return [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "CustomResourceDefinition"]

    assert sorted(d["metadata"]["name"] for d in crds()) == sorted(CRD_NAMES)
    assert all(not (d["metadata"].get("annotations") or {}) for d in crds("crds.keep=false"))
    assert crds("crds.enabled=false") == []
