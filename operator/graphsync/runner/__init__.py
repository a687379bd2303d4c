"""The pipeline loop: read a batch, apply it with retries, record poison records, then checkpoint."""
