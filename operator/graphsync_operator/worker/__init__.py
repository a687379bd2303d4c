"""What a worker pod runs, `graphsync-operator worker sync|reconcile|cleanup`: the engine's command, reporting to
the operator.

`command` (the subcommands) and `identity` (who the pod is, from its environment); `heartbeat` (the reporter
thread: the state a run is in, patched into the pipeline's Lease as the `graphsync_operator.reports` contract
says) and `readings` (a run's progress at one moment, what the reporter and the metrics read); `health`
(/healthz, /readyz, /metrics) and `inspection` (the read-only /deadletters and /conflicts on the same port).
"""
