"""graphsync's sync engine: connectors, the pipeline loop, mapping, reconciliation and the CLI.

The engine never imports kopf or kubernetes (an import-linter contract enforces
it): a worker pod, a CronJob and `graphsync run` on a laptop all run this code.
"""

from importlib import metadata

try:
    # The release is said once, in pyproject.toml; every CLI's --version, the plugin's `version` and the
    # build-info metric read it from the installed distribution's metadata.
    __version__ = metadata.version("graphsync")
except metadata.PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
