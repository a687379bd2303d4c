"""Metric and label names out of PromQL and Grafana's label_values(), as the dashboard tests read queries."""

from __future__ import annotations

import pytest

from tests.promql import label_names, metric_names, variable_queries


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


@pytest.mark.parametrize(
    ("expr", "labels"),
    [
        ("graphsync_worker_up", set()),
        (
            'sum by (namespace, pipeline) (rate(x_total{namespace=~"$namespace", pipeline=~"$p", outcome!="a=b"}[5m]))',
            {"namespace", "pipeline", "outcome"},
        ),
        ("histogram_quantile(0.5, sum by (le) (rate(a_bucket[5m]))) and on (job) up", {"le", "job"}),
        ('sum without (instance, pod) (up{job="x"})', {"instance", "pod", "job"}),
    ],
)
def test_the_labels_a_query_reads(expr: str, labels: set[str]) -> None:
    assert label_names(expr) == labels


def test_template_variables_are_read_as_label_values_of_a_selector() -> None:
    board = {
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "ns", "type": "query", "query": {"query": "label_values(up, namespace)"}},
                {"name": "p", "type": "query", "query": 'label_values(up{a="1", b=~"$ns"}, pipeline)'},
            ]
        }
    }
    assert variable_queries(board) == [("up", "namespace"), ('up{a="1", b=~"$ns"}', "pipeline")]
    board["templating"]["list"].append({"name": "odd", "type": "query", "query": "query_result(up)"})
    with pytest.raises(ValueError, match="variable 'odd': not a label_values"):
        variable_queries(board)
