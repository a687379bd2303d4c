"""Every reason the operator can set on a condition has its entry in the docs' Troubleshoot page (pure).

The reasons are string literals in the code that decides statuses (assess.py) and in the handlers'
refusals; an entry is a `#### Reason` heading with what it means and what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
OPERATOR = ROOT / "operator" / "graphsync_operator"
PAGE = ROOT / "docs" / "operations" / "troubleshoot.md"
# Condition types, event types and statuses are named beside reasons in the same calls; `Stopped` is a schema
# change's phase and `Failed` a Job's own reason quoted in a message: none of them is a condition's reason.
NOT_REASONS = {"Ready", "Reconciling", "Stalled", "Degraded", "Normal", "Warning", "True", "Stopped", "Failed"}
# A reason made from an outcome (`inSync` -> `InSync`): assess.py capitalises a ReconciliationJob's outcome.
FROM_OUTCOMES = {"InSync", "Repaired"}


def reasons_in_code() -> set[str]:
    assess = (OPERATOR / "assess.py").read_text()
    found = set(re.findall(r'"([A-Z][a-z]+(?:[A-Z][a-z]+)+|[A-Z][a-z]+)"', assess)) - NOT_REASONS
    for module in (OPERATOR / "handlers").glob("*.py"):
        found |= set(re.findall(r'(?:Missing|Problem)\(\s*"([A-Za-z]+)"', module.read_text()))
    return found | FROM_OUTCOMES


def test_the_scan_finds_the_reasons_we_know() -> None:
    found = reasons_in_code()
    assert {"InvalidSpec", "SecretMissing", "NameTaken", "PipelineMissing", "WorkerStuck", "SlotBacklog"} <= found


def test_every_reason_has_an_entry_in_troubleshoot() -> None:
    documented = set(re.findall(r"^#### (\w+)$", PAGE.read_text(), flags=re.MULTILINE))
    assert sorted(reasons_in_code() - documented) == []
