"""No series names a label Prometheus sets from the scrape target (`namespace`, `pod`, `instance`, `job`...).

Prometheus renames such an exposed label (`exported_namespace`) unless the monitor sets `honorLabels`, which
lets a target overwrite its own identity. So the workers leave `namespace` and `pod` to the target (the
PodMonitor scrapes the worker pod, in its pipeline's namespace), and the operator's per-pipeline series say
`pipeline_namespace`; the chart's monitors need no `honorLabels`, and the alerts and the dashboard group by
the labels Prometheus really stores."""

from __future__ import annotations

from pathlib import Path

from tests.promql import TARGET_LABELS
from tests.unit.test_dashboard import exported

TEMPLATES = Path(__file__).parents[2] / "charts" / "graphsync" / "templates"


def test_no_exported_series_carries_a_label_of_the_scrape_target() -> None:
    clashing = {name: sorted(labels & TARGET_LABELS) for name, labels in exported().items() if labels & TARGET_LABELS}
    assert clashing == {}
    assert "pipeline_namespace" in exported()["graphsync_reconciliation_repaired"]


def test_the_charts_monitors_do_not_honor_the_targets_labels() -> None:
    for name in ("servicemonitor.yaml", "podmonitor.yaml"):
        assert "honorLabels" not in (TEMPLATES / name).read_text(), name
