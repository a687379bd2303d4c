"""install.yaml pinned to the release's image: the generated file (manifests/install.yaml, rendered from the
chart) with every reference to the release's tag turned into tag@digest, so `kubectl apply` runs exactly the
image this release built, for the operator and the workers it starts."""

from __future__ import annotations

import re

from graphsync_dev.release.version import IMAGE_REPOSITORY


def pin(text: str, image: str, digest: str) -> str:
    """`text` with each `image` (repository:tag) reference pinned to `digest` (pure).

    Refuses a file that names the release's image nowhere, or that names another tag of it: the install
    would run something else than the release."""
    pattern = re.compile(rf"(?<![\w./-]){re.escape(IMAGE_REPOSITORY)}(?P<rest>[:@][\w.+:-]+)?")
    found = {m["rest"] or "" for m in pattern.finditer(text)}
    tag = image.removeprefix(IMAGE_REPOSITORY)
    if tag not in found:
        raise ValueError(f"the install file does not name {image}; run make generate")
    others = sorted(found - {tag})
    if others:
        raise ValueError(f"the install file names other images of the release's repository: {others}")
    return pattern.sub(lambda m: f"{image}@{digest}", text)


def header(text: str, image: str, digest: str) -> str:
    """A first line that says what the file is pinned to, above the generated file's own header."""
    return f"# graphsync release install file: runs {image}@{digest}\n{pin(text, image, digest)}"
