"""graphsync's sync engine: connectors, the pipeline loop, mapping, reconciliation and the CLI.

The engine never imports kopf or kubernetes (an import-linter contract enforces
it): a worker pod, a CronJob and `graphsync run` on a laptop all run this code.
"""

__version__ = "0.1.0"
