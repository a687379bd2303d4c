"""The kopf handlers: glue between watch events, the pure builders and assessments, and the API client.

Importing this package registers every handler with kopf.
"""

from graphsync_operator.controller.handlers import indexes, pipelines, policies, reconciliations, refresh, settings

__all__ = ["indexes", "pipelines", "policies", "reconciliations", "refresh", "settings"]
