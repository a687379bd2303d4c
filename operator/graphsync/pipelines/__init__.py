"""The runners of each kind of pipeline, one module per mode or source kind; `run.run` is the entry.

- `run`: what surrounds every run (resets, schema watch, backfills, history), then the pipeline's runner;
- `postgres`: the PostgreSQL modes' epoch claim and reconnection, dispatching to `streaming` (continuous and
  the stream of snapshotThenStream), `snapshot` and `incremental`, which share `assembly`;
- `graphs`: a Neo4j or FalkorDB source (snapshot, incremental, differential);
- `files`: a Git repository or a directory (snapshot, incremental);
- `bidirectional`: two sides written both ways, conflicts by the pipeline's policy.
Every runner hands its source and sink to the same `graphsync.runner.loop.Runner`.
"""
