"""Where the substrate keeps builds, sources and run directories."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Builds live outside the repository so a fresh clone reuses them."""
    configured = os.environ.get("GRAPHSYNC_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "graphsync"
    root.mkdir(parents=True, exist_ok=True)
    return root


def source_root() -> Path:
    """The repository checkout, which holds the build recipes under `hack/`.

    The substrate is a development tool: it only works from a checkout (an
    editable install), never from a worker image.
    """
    configured = os.environ.get("GRAPHSYNC_SOURCE_ROOT")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        if (parent / "hack").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    raise RuntimeError(
        "graphsync-dev needs a source checkout (hack/ and pyproject.toml not found "
        "above this module); set GRAPHSYNC_SOURCE_ROOT"
    )
