"""Reconciliation: proving that a pipeline's target holds what its source says, and repairing it when not."""
