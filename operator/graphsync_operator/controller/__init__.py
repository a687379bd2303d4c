"""What the operator process runs, `graphsync-operator run`: kopf, watching the custom resources.

`command` (the subcommand: kopf started with the handlers registered); `handlers` (the kopf handlers, thin glue
over what follows, and the status refresher); `assess` (from what was observed to the status a user reads, pure),
`cleanup` (where a pipeline's cleanup stands, pure) and `ending` (pipelines held in a namespace being deleted, pure).
"""
