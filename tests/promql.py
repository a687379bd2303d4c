"""The metric names a PromQL expression reads, without a PromQL engine: what a dashboard's queries need exposed.

Everything that is not a metric name is taken out first: string literals (label values),
label matchers, range and subquery brackets, the label lists of `by`/`without`/`on`/
`ignoring`/`group_left`/`group_right`, Grafana's variables, then function calls and keywords.
"""

from __future__ import annotations

import re
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
    found = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found.extend(target["expr"] for target in inner.get("targets", []) if target.get("expr"))
    return found
