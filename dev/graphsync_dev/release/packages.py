"""The wheel and the sdist, built with uv from pyproject.toml, and what their metadata must say.

PyPI shows a distribution by its metadata alone: its classifiers, licence, links, readme and the Pythons
it runs on. `problems` reads a built wheel's METADATA and names what is missing.
"""

from __future__ import annotations

import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

# Metadata fields a release's wheel must carry, each with at least one value.
REQUIRED = ("Name", "Version", "Summary", "Requires-Python", "Classifier", "Project-URL", "Description-Content-Type")


def build(source: Path, out: Path, uv: Path) -> list[Path]:
    """`uv build` of the project at `source` (not dev/) into `out`: the sdist, and the wheel built from it."""
    done = subprocess.run(
        [str(uv), "build", "-q", "--sdist", "--wheel", "--out-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise ValueError(f"uv build failed: {done.stderr.strip()[-2000:]}")
    return sorted(path for path in out.iterdir() if path.suffix == ".whl" or path.name.endswith(".tar.gz"))


def metadata(wheel: Path) -> dict[str, list[str]]:
    """The METADATA fields of a wheel, each with all its values."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(name).decode())
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(str(value))
    body = message.get_payload()
    fields["Description"] = [body] if isinstance(body, str) and body.strip() else []
    return fields


def problems(fields: dict[str, list[str]], version: str) -> list[str]:
    """What a wheel's metadata lacks or gets wrong (pure; empty: complete)."""
    found = [f"no {key}" for key in REQUIRED if not fields.get(key)]
    if fields.get("Version") != [version]:
        found.append(f"Version is {fields.get('Version')}, not {version}")
    if fields.get("License-Expression") != ["Apache-2.0"]:
        found.append(f"License-Expression is {fields.get('License-Expression')}, not Apache-2.0")
    if not any(value.endswith("LICENSE") for value in fields.get("License-File", [])):
        found.append("the LICENSE file is not included (License-File)")
    if not fields.get("Description"):
        found.append("no long description (the README)")
    return found
