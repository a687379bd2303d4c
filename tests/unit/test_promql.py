"""Metric names out of PromQL, as the dashboard test reads its queries."""

from __future__ import annotations

import pytest

from tests.promql import metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("graphsync_worker_up", {"graphsync_worker_up"}),
        (
            'sum by (pipeline, outcome) (rate(graphsync_items_total{pipeline=~"$pipeline"}[$__rate_interval]))',
            {"graphsync_items_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (kind, le) (rate(graphsync_batch_duration_seconds_bucket[5m])))",
            {"graphsync_batch_duration_seconds_bucket"},
        ),
        (
            "sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) > bool 0.5 and on (pipeline) b_total offset 1h",
            {"a_sum", "a_count", "b_total"},
        ),
        ('time() - max by (pipeline) (last_seconds{outcome!="by (x)", le="+Inf"})', {"last_seconds"}),
        ("sum without (instance) (up) * 1e3", {"up"}),
    ],
)
def test_the_names_a_query_reads(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
