"""The image cannot be built on our machines, so its recipe is checked against what CI really runs.

CI installs with hack/bootstrap.sh: uv at a pinned version, then `uv pip install` of a lock file
under requirements/ and the project. The image must install the same way from the runtime lock,
whose pins the dev lock CI uses must repeat exactly (it is compiled with `-c requirements/runtime.txt`),
so the image runs the very versions the tests ran.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

from graphsync_operator.build import names, workloads
from tests.dockerfile import env, stages

ROOT = Path(__file__).parents[2]
BOOTSTRAP = (ROOT / "hack" / "bootstrap.sh").read_text()


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {m[1].lower(): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", text, re.MULTILINE)}


def uv_install(command: str) -> list[str]:
    """The arguments of the `uv pip install` in a shell command, options CI adds for quiet output dropped."""
    words = shlex.split(command)
    at = next(i for i, w in enumerate(words) if w.endswith("uv") and words[i + 1 : i + 3] == ["pip", "install"])
    args = []
    for word in words[at + 3 :]:
        if word in ("&&", ";", "|"):
            break
        if word != "-q":
            args.append(word)
    return args


def test_the_image_installs_with_the_uv_ci_uses() -> None:
    ci = re.search(r"^UV_VERSION=(\S+)$", BOOTSTRAP, re.MULTILINE)
    assert ci is not None, "hack/bootstrap.sh pins no UV_VERSION"
    build = stages()[0]
    assert env(build)["UV_VERSION"] == ci[1]
    assert any(word == "RUN" and 'pip install "uv==${UV_VERSION}"' in rest for word, rest in build)
    assert 'pip install -q "uv==${UV_VERSION}"' in BOOTSTRAP


def test_the_image_installs_the_runtime_lock_and_the_project_as_ci_does() -> None:
    [image_step] = [rest for word, rest in stages()[0] if word == "RUN" and "uv pip install" in rest]
    ci_step = next(line for line in BOOTSTRAP.splitlines() if "uv pip install" in line and "requirements/" in line)
    image, ci = uv_install(image_step), uv_install(ci_step)
    assert image == ["-r", "requirements/runtime.txt", "."]
    # The same lock family; CI adds the dev tools and the development package (dev/), which the image never installs.
    assert ci == ["-r", "requirements/dev.txt", "-e", ".", "-e", "dev"]
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    assert runtime, "requirements/runtime.txt pins nothing"
    differing = {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version}
    assert differing == {}, "the image would run other versions than CI tested; run make lock"


def test_the_image_copies_everything_the_install_reads() -> None:
    copied = {source for word, rest in stages()[0] if word == "COPY" for source in shlex.split(rest)[:-1]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"requirements/runtime.txt", "pyproject.toml", project["readme"], "operator"} <= copied


def test_the_image_copies_no_development_code() -> None:
    """Only operator/ (the engine and the operator) goes in: neither dev/ nor tests, bench or hack."""
    copied = {source for word, rest in stages()[0] if word == "COPY" for source in shlex.split(rest)[:-1]}
    assert not {source for source in copied if source.split("/")[0] in ("dev", "tests", "bench", "hack")}
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert not [line for line in ignored if line.startswith("!") and line[1:].split("/")[0] in ("dev", "tests")]


def test_the_python_of_the_image_is_the_one_the_lock_was_compiled_for() -> None:
    header = (ROOT / "requirements" / "runtime.txt").read_text().splitlines()[1]
    locked = re.search(r"--python-version (\d+\.\d+)", header)
    assert locked is not None, header
    # Debian's interpreter, in both stages: the venv runs on the very python it was built with.
    for stage in stages():
        [install] = [rest for word, rest in stage if word == "RUN" and "apt-get install" in rest]
        assert re.search(rf"\bpython{re.escape(locked[1])}=\S+", install), install
    assert any(word == "RUN" and f"python{locked[1]} -m venv" in rest for word, rest in stages()[0])


def test_the_base_images_are_pinned() -> None:
    for stage in stages():
        image = stage[0][1].split()[0]
        # A digest, a full version, or Debian's point release (whose packages the recipe pins by version, below):
        # never a moving tag such as bookworm-slim.
        assert "@sha256:" in image or re.fullmatch(r"[\w./-]+:\d+\.\d+(\.\d+)?[\w.-]*", image), image
        [install] = [rest for word, rest in stage if word == "RUN" and "apt-get install" in rest]
        packages = [
            word for word in shlex.split(install.split("apt-get install", 1)[1].split("&&")[0]) if word[0] != "-"
        ]
        assert packages, install
        assert all(re.fullmatch(r"[a-z0-9.+-]+=\S+", package) for package in packages), packages


def test_the_image_runs_as_the_uid_the_pods_demand() -> None:
    final = stages()[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users[-1:] == [f"{workloads.UID}:{workloads.UID}"]
    assert any(word == "RUN" and f"--uid {workloads.UID}" in rest for word, rest in final)
    # The operator pod's, from the chart's default podSecurityContext (a value: replaceable on OpenShift).
    values = yaml.safe_load((ROOT / "charts" / "graphsync" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == workloads.UID


def test_the_commands_the_pods_run_are_on_the_image_path() -> None:
    final = stages()[-1]
    variables = env(final)
    venv = next(rest.split()[-1] for word, rest in final if word == "COPY" and "--from=build" in rest)
    assert variables["PATH"].split(":")[0] == f"{venv}/bin"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "graphsync-operator" in scripts  # the chart's and the workers' command
    # Workers mount their emptyDir cache where the image's engine looks for it.
    assert variables["GRAPHSYNC_CACHE_DIR"] == names.CACHE_DIR


def test_the_kind_cluster_the_readme_names() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    assert (config["kind"], config["name"]) == ("Cluster", "graphsync")
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker"]


def test_the_image_starts_what_the_pods_run_and_its_context_holds_only_what_it_copies() -> None:
    final = stages()[-1]
    assert [rest for word, rest in final if word == "ENTRYPOINT"] == ['["graphsync-operator"]']
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if not line.startswith("#")]
    assert ignored[0] == "*"  # everything is excluded first, then what the COPY steps read is let in
    copied = {source for word, rest in stages()[0] if word == "COPY" for source in shlex.split(rest)[:-1]}
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    assert copied == allowed
    assert {"operator/**/__pycache__", "operator/**/*.egg-info"} <= set(ignored)
