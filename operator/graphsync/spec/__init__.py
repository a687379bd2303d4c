"""The pipeline spec: the pydantic models that the SyncPipeline custom resource embeds unchanged."""
