"""The image's OCI labels and manifest annotations (pure).

The Dockerfile's LABEL lines are the one list of labels: both builds fill its build arguments from the
release. The manifest repeats them as annotations (registries show those without pulling the config)
and adds the base's name and its layer's digest.
"""

from __future__ import annotations

from graphsync_dev.release.dockerfile import Recipe
from graphsync_dev.release.version import Release

PREFIX = "org.opencontainers.image."
# The keys every release image carries: what `docker inspect`, registries and scanners read.
REQUIRED = tuple(
    PREFIX + key for key in ("title", "description", "url", "source", "licenses", "version", "revision", "created")
)


def build_args(release: Release) -> dict[str, str]:
    """The Dockerfile's ARGs (`docker build --build-arg NAME=VALUE` for each)."""
    return {"VERSION": release.version, "REVISION": release.revision, "CREATED": release.created}


def image(recipe: Recipe, release: Release) -> dict[str, str]:
    """The config's labels: the Dockerfile's LABELs with the release's build arguments."""
    found = recipe.labels(build_args(release))
    missing = [key for key in REQUIRED if not found.get(key)]
    if missing:
        raise ValueError(f"the Dockerfile's LABELs lack {', '.join(missing)}")
    return found


def manifest_annotations(recipe: Recipe, release: Release, *, base_digest: str) -> dict[str, str]:
    """The manifest's annotations: the labels, the base it was built from, and the name a layout gives it."""
    return {
        **image(recipe, release),
        PREFIX + "base.name": recipe.base(),
        # Not base.digest: that key names a registry manifest, and this base is a layer built here from
        # pinned Debian packages; its digest pins it as firmly.
        "io.graphsync.image.base.layer": base_digest,
        PREFIX + "ref.name": release.version,
    }
