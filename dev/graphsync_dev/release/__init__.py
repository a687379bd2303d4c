"""`make release`: every artifact of a release, built here without a container engine or a registry.

The image (an OCI layout and its archive), the chart (a `helm package` and its OCI artifact), the
install file pinned to the image's digest, the wheel and sdist, and the krew plugin manifest with its
archive, all at the one version the engine declares (`graphsync.__version__`). Pushing is left to
whoever holds the credentials: everything before it runs in CI.
"""
