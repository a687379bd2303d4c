"""The one comparison engine: a source and a target read by ranges of the (start) node key, entity by entity.

`sides` (a graph) and `postgres` (mapped tables) read one bucket of a side as
entries (`entries`: an identity, a content digest, what a repair needs);
`ranges` walks both sides bucket by bucket; `entries.compare` says what differs;
`repairs` turns differences into the changes that make the target equal, at
versions that win over the drift. Differential mode and incremental sync's key
scans (`differential`), reconciliation (`reconcile.walk`) and bidirectional
passes (`pipelines.bidirectional`) all compare through it.
"""
