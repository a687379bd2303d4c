"""The metric names and label names a PromQL expression reads, without a PromQL engine: what a dashboard's
queries (its panels' and its template variables' `label_values(...)`) need exposed.

Everything that is not a metric name is taken out first: string literals (label values),
label matchers, range and subquery brackets, the label lists of `by`/`without`/`on`/
`ignoring`/`group_left`/`group_right`, Grafana's variables, then function calls and keywords.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = frozenset(
    ("and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf")
)
_NUMBER_WORDS = frozenset(("nan", "inf"))
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>[a-zA-Z_]\w*)\s*\)\s*$")
# What Prometheus adds to every series of a scrape target (the PodMonitor's and ServiceMonitor's defaults),
# whatever the exporter says: an exporter's scrape alone cannot show them.
TARGET_LABELS = frozenset(("namespace", "pod", "instance", "job", "container", "service", "endpoint"))


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _VARIABLE.sub("0", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    found = set()
    for match in _NAME.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS | _NUMBER_WORDS:
            continue
        found.add(name)
    return found


def dashboard_queries(board: dict[str, Any]) -> list[str]:
    """Every query of a Grafana dashboard's panels, rows' panels included."""
    found: list[str] = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found.extend(target["expr"] for target in inner.get("targets", []) if target.get("expr"))
    return found


def label_names(expr: str) -> set[str]:
    """The labels an expression reads: in its matchers and its `by`/`without`/`on`/... lists."""
    text = _STRING.sub('""', expr)
    found = {label for matchers in _MATCHERS.findall(text) for label in _MATCHER_LABEL.findall(matchers)}
    for clause in _LABEL_LIST.finditer(text):
        inside = clause.group(0).split("(", 1)[1].rstrip(")")
        found |= {label.strip() for label in inside.split(",") if label.strip()}
    return found


def variable_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(selector, label) of each query variable's `label_values(selector, label)`; selector "" when it has none.
    A variable with another kind of query is refused, naming it: it would go unchecked."""
    found = []
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = _LABEL_VALUES.match(query)
        if match is None:
            raise ValueError(f"variable {variable['name']!r}: not a label_values(selector, label) query: {query!r}")
        found.append((match.group("selector") or "", match.group("label")))
    return found


def rule_queries(rule: dict[str, Any]) -> list[str]:
    """Every alert's and recording rule's expression of a PrometheusRule."""
    return [str(item["expr"]) for group in rule["spec"]["groups"] for item in group["rules"]]


def unexposed(board: dict[str, Any], exposed: Mapping[str, set[str]]) -> list[str]:
    """What the dashboard's queries read that no exposed series has: a metric name, or a label of a metric it
    reads (the target's labels aside), for panels and template variables alike. `exposed`: sample name ->
    the label names its samples carry."""
    queries = [(expr, label_names(expr)) for expr in dashboard_queries(board)]
    queries += [(selector, {label, *label_names(selector)}) for selector, label in variable_queries(board)]
    return unread(queries, exposed)


def unread(queries: list[tuple[str, set[str]]], exposed: Mapping[str, set[str]]) -> list[str]:
    """What the queries (each with the labels it reads) need that no exposed series has."""
    problems = []
    for expr, labels in queries:
        names = metric_names(expr)
        if not names:
            problems.append(f"{expr}: reads no metric")
        for name in sorted(names):
            if name not in exposed:
                problems.append(f"{expr}: {name} is not exposed")
            elif missing := labels - exposed[name] - TARGET_LABELS:
                problems.append(f"{expr}: {name} has no label {', '.join(sorted(missing))}")
    return problems
