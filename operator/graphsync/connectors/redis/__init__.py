"""Redis: the Streams transport, and a graph pipeline's state (checkpoints, dead letters, the bidirectional
ledger and held conflicts) kept in its FalkorDB server."""
