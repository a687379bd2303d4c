"""The chart's alerts as Prometheus itself reads them: promtool (built from the Go module proxy like the other
tools) loads the rendered PrometheusRule's groups (`promtool check rules`) and runs the unit tests in
alerts/graphsync_test.yaml (`promtool test rules`), one test group per alert, each alert firing on the series
that mean trouble after its `for` and quiet on healthy ones. No control plane: helm renders, promtool judges."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync_dev import gotools

pytestmark = pytest.mark.e2e

CHART = Path(__file__).parents[2] / "charts" / "graphsync"
UNIT_TESTS = Path(__file__).parent / "alerts" / "graphsync_test.yaml"
RULES = "graphsync-rules.yaml"  # the rule file the unit tests name
DOCS = Path(__file__).parents[2] / "docs" / "operations" / "troubleshoot.md"


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False, timeout=120, cwd=cwd)


def rendered_rule(*values: str) -> dict[str, Any]:
    """The chart's PrometheusRule as `helm template` renders it with alerts on (and `values`)."""
    sets = [arg for value in ("alerts.enabled=true", *values) for arg in ("--set", value)]
    done = run(gotools.ensure("helm"), "template", "g", CHART, "-n", "graphsync-system", *sets)
    assert done.returncode == 0, done.stderr
    [rule] = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "PrometheusRule"]
    return dict(rule)


def alerts(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


@pytest.fixture(scope="module")
def promtool() -> Path:
    return gotools.ensure("promtool")


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The rule file as Prometheus would load it (the PrometheusRule's spec is a rule file's content), beside
    the unit tests, which name it."""
    (tmp_path / RULES).write_text(yaml.safe_dump(rendered_rule()["spec"], sort_keys=False))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    return tmp_path


def test_promtool_loads_the_rules(promtool: Path, rules_dir: Path) -> None:
    checked = run(promtool, "check", "rules", rules_dir / RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts(rendered_rule()))} rules found" in checked.stdout


def test_every_alert_has_a_promtool_unit_test_and_they_pass(promtool: Path, rules_dir: Path) -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    # One test group per alert, named after it, and every case in it about that alert.
    assert sorted(t["name"] for t in tests) == sorted(alerts(rendered_rule()))
    for test in tests:
        assert {case["alertname"] for case in test["alert_rule_test"]} == {test["name"]}
        # Each shows the alert quiet and firing.
        assert any(case["exp_alerts"] == [] for case in test["alert_rule_test"]), test["name"]
        assert any(case["exp_alerts"] for case in test["alert_rule_test"]), test["name"]
    tested = run(promtool, "test", "rules", UNIT_TESTS.name, cwd=rules_dir)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_fails_a_rule_whose_alert_no_longer_fires(promtool: Path, rules_dir: Path) -> None:
    """The unit tests judge the expressions: a threshold moved by the values breaks the one that depends on it."""
    (rules_dir / RULES).write_text(yaml.safe_dump(rendered_rule("alerts.lagSeconds=900")["spec"], sort_keys=False))
    tested = run(promtool, "test", "rules", UNIT_TESTS.name, cwd=rules_dir)
    assert tested.returncode != 0
    assert "GraphsyncLagHigh" in tested.stdout + tested.stderr


def test_thresholds_and_the_runbook_come_from_the_values() -> None:
    found = alerts(
        rendered_rule(
            "alerts.lagSeconds=60",
            "alerts.lagFor=2m",
            "alerts.notReadyFor=5m",
            "alerts.workerDownFor=3m",
            "alerts.stuckSeconds=120",
            "alerts.deadLettersWindow=1h",
            "alerts.runbookUrl=https://runbooks.example.com/graphsync",
        )
    )
    assert found["GraphsyncLagHigh"]["expr"].endswith("> 60")
    assert found["GraphsyncLagHigh"]["for"] == "2m"
    assert found["GraphsyncPipelineNotReady"]["for"] == "5m"
    assert found["GraphsyncWorkerDown"]["for"] == "3m"
    assert found["GraphsyncWorkerStuck"]["expr"].count("> 120") == 2
    assert "[1h]" in found["GraphsyncDeadLettersGrowing"]["expr"]
    for name, alert in found.items():
        assert alert["annotations"]["runbook_url"] == f"https://runbooks.example.com/graphsync#{name.lower()}"


def test_every_runbook_link_has_its_entry_in_the_docs() -> None:
    headings = {line[4:].strip().lower() for line in DOCS.read_text().splitlines() if line.startswith("### ")}
    for name, alert in alerts(rendered_rule()).items():
        anchor = alert["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower()
        assert anchor in headings, f"{DOCS} has no '### {name}'"
