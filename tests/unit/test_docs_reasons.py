"""Status reasons are one documented set (pure): the `Reason` enum, each member with its entry in the docs' Troubleshoot
page, and no condition given a reason from outside it.

An entry is a `#### Reason` heading under "Status reasons" with what it means and what to do. mypy refuses a
string where a `Reason` is typed; the static checks here keep the types from drifting back to `str`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from graphsync.reconcile.report import Outcome
from graphsync_operator.api.reasons import Reason, of_outcome

ROOT = Path(__file__).parents[2]
OPERATOR = ROOT / "operator" / "graphsync_operator"
PAGE = ROOT / "docs" / "operations" / "troubleshoot.md"
# The modules that decide conditions: every literal there that reads like a reason must be a member instead.
DECIDING = [OPERATOR / "controller" / "assess.py", *sorted((OPERATOR / "controller" / "handlers").glob("*.py"))]
# Strings in those modules that equal a reason's value but are something else.
OTHER_USES = {"InSync": "the InSync condition's type", "Unknown": "a condition's status"}


def entries() -> dict[str, str]:
    """Each `#### Name` under "## Status reasons", with the text under it up to the next heading."""
    text = PAGE.read_text()
    section = text.split("\n## Status reasons\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^#### ([^\n]+)\n(.*?)(?=^#|\Z)", section, flags=re.MULTILINE | re.DOTALL)
    return {name.strip(): body.strip() for name, body in found}


def test_the_page_has_entries() -> None:
    # A heading renamed or a section moved would otherwise leave nothing to compare.
    assert {"InvalidSpec", "SecretMissing", "WorkerStuck", "SlotBacklog", "Drift"} <= entries().keys()


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_every_reason_has_an_entry_with_what_it_means_and_what_to_do(reason: Reason) -> None:
    documented = entries()
    assert reason.value in documented, f"docs/operations/troubleshoot.md has no `#### {reason}` entry"
    assert documented[reason.value], f"the `#### {reason}` entry says nothing"


def test_every_entry_names_a_reason() -> None:
    stale = sorted(set(entries()) - {reason.value for reason in Reason})
    assert stale == [], f"entries for reasons the operator never sets: {stale}"


def test_every_outcome_that_ends_a_run_has_its_reason() -> None:
    assert {outcome: of_outcome(outcome) for outcome in Outcome if outcome is not Outcome.RUNNING} == {
        Outcome.IN_SYNC: Reason.IN_SYNC,
        Outcome.REPAIRED: Reason.REPAIRED,
        Outcome.DRIFT: Reason.DRIFT,
        Outcome.PARTIAL: Reason.RUN_FAILED,
        Outcome.FAILED: Reason.RUN_FAILED,
    }


# --- no reason from outside the set ------------------------------------------------------------------------


def modules() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(OPERATOR.rglob("*.py"))}


def _reason_at(params: Sequence[ast.arg | ast.AnnAssign]) -> int | None:
    """The position of a parameter or field `reason: Reason` among `params`, if there is one."""
    for index, param in enumerate(params):
        name = param.arg if isinstance(param, ast.arg) else getattr(param.target, "id", None)
        annotation = param.annotation
        if name == "reason" and isinstance(annotation, ast.Name) and annotation.id == "Reason":
            return index
    return None


def carriers(trees: dict[Path, ast.Module]) -> dict[str, int]:
    """What takes a reason: each function, class (by its `__init__`) or dataclass with a parameter or field
    `reason: Reason`, by the name it is called by and the position of that argument."""
    found: dict[str, int] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name != "__init__":
                index = _reason_at([*node.args.posonlyargs, *node.args.args])
            elif isinstance(node, ast.ClassDef):
                init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
                fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
                # The caller of a class does not pass `self`.
                index = _reason_at(init.args.args[1:]) if init is not None else _reason_at(fields)
            else:
                continue
            if index is not None:
                found[node.name] = index
    return found


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_the_reason_carriers_are_typed() -> None:
    # What the statuses are built from: were one typed `str` again, mypy would let a stray literal through.
    assert {"Problem", "Missing", "_condition"} <= carriers(modules()).keys()


def literal_reasons(trees: dict[Path, ast.Module]) -> list[str]:
    """Where a string literal is given for a reason: as `reason=`, or where a carrier takes its reason."""
    takes = carriers(trees)
    found = []
    for path, tree in trees.items():
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            name = _callee(call)
            given = [kw.value for kw in call.keywords if kw.arg == "reason"]
            if name in takes and len(call.args) > takes[name]:
                given.append(call.args[takes[name]])
            found += [f"{path.name}:{node.lineno} {name}" for node in given if _literal(node)]
    return found


def test_no_condition_is_given_a_reason_as_a_literal() -> None:
    assert literal_reasons(modules()) == [], "give a Reason member, not a string"


def test_the_scan_finds_a_literal_reason() -> None:
    source = """
class Missing(Exception):
    def __init__(self, reason: Reason, message: str) -> None: ...
def _condition(kind: str, value: bool, reason: Reason, message: str) -> None: ...
raise Missing("SecretMissing", "no key")
_condition("Ready", False, "Waiting", "")
_condition("Ready", True, Reason.SYNCING, "")
Condition(type="Ready", reason="Syncing")
"""
    found = literal_reasons({Path("made_up.py"): ast.parse(source)})
    assert found == ["made_up.py:5 Missing", "made_up.py:6 _condition", "made_up.py:8 Condition"]


def test_the_deciding_modules_name_reasons_by_their_members() -> None:
    values = {reason.value for reason in Reason} - set(OTHER_USES)
    spelled = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
        for path in DECIDING
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in values
    ]
    assert spelled == [], "use the Reason member"
