"""`kubectl graphsync`: watch and steer graphsync's resources as their user, with the user's own credentials.

`status` reads the resources; `pause`/`resume` patch a spec and `sync-now`/`reconcile-now`
set the annotations the operator acts on; `dlq` and `conflicts` run the engine's own
commands here, on the pipeline's spec as the operator renders it, with its Secrets read
through the user's RBAC (and, with `--address`, its in-cluster addresses moved to ones
reachable from here). Also reachable as `graphsync-operator kubectl ...` and `graphsync kubectl ...`.
"""
