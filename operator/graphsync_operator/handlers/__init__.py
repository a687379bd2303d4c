"""The kopf handlers: glue between watch events, the pure builders and assessments, and the API client.

Importing this package registers every handler with kopf.
"""

from graphsync_operator.handlers import pipelines, policies, reconciliations, refresh, shared

__all__ = ["pipelines", "policies", "reconciliations", "refresh", "shared"]
