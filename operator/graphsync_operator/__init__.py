"""graphsync's Kubernetes operator: API models, pure builders, thin kopf handlers, status."""
