"""The end of every `kubectl graphsync ... --help`: examples and exit codes, by command path (see
`graphsync.commands.helptext`)."""

from __future__ import annotations

from graphsync.commands.helptext import Page

# What `run` makes of failures (see command.run): the user's input, or the cluster and the databases.
CODES = {
    0: "done",
    1: "the cluster or a database could not be reached, or a wait timed out",
    2: "bad input: options, a resource or Secret not found, an invalid spec",
}
LISTED = {**CODES, 0: "listed (also when there is nothing to list)"}
WAITED = {**CODES, 0: "done (with --wait: the operator has acted on it)"}

PAGES = {
    "": Page(
        [
            "kubectl graphsync status -A",
            "kubectl graphsync check shop -n prod           # can it connect, read, capture, write?",
            "kubectl graphsync dlq list shop -o json",
            "source <(kubectl graphsync completion bash)",
        ],
        CODES,
    ),
    "status": Page(
        [
            "kubectl graphsync status                       # every resource of the namespace",
            "kubectl graphsync status -A -o wide            # every namespace, with source, target and checkpoint",
            "kubectl graphsync status shop -o yaml          # one pipeline with its jobs and policy, as data",
        ],
        LISTED,
    ),
    "version": Page(["kubectl graphsync version", "kubectl graphsync version -o json"], CODES),
    "pause": Page(["kubectl graphsync pause shop --wait", "kubectl graphsync pause rj/nightly"], WAITED),
    "resume": Page(["kubectl graphsync resume shop --wait", "kubectl graphsync resume rj/nightly"], WAITED),
    "sync-now": Page(["kubectl graphsync sync-now nightly-import --wait"], WAITED),
    "reconcile-now": Page(["kubectl graphsync reconcile-now nightly --wait --timeout 300"], WAITED),
    "backfill": Page(
        [
            "kubectl graphsync backfill shop --entity customer --wait",
            "kubectl graphsync backfill shop --entity customer --after 1000 --through 2000",
        ],
        WAITED,
    ),
    "reset": Page(
        [
            "kubectl graphsync reset shop --checkpoint stream --back 100 --wait",
            "kubectl graphsync reset shop --checkpoint watermark:customer --to '\"2026-01-01T00:00:00Z\"'",
        ],
        {**WAITED, 1: "refused by the worker (with --wait), or the cluster could not be reached"},
    ),
    "dlq": Page(["kubectl graphsync dlq list shop", "kubectl graphsync dlq replay shop --id 12"], CODES),
    "dlq list": Page(
        [
            "kubectl graphsync dlq list shop                # through the pipeline's worker",
            "kubectl graphsync dlq list shop --all -o wide",
            "kubectl graphsync dlq list shop --direct --address postgres.shop.svc:5432=127.0.0.1:15432",
        ],
        LISTED,
    ),
    "dlq replay": Page(
        [
            "kubectl graphsync dlq replay shop --address postgres.shop.svc:5432=127.0.0.1:15432",
            "kubectl graphsync dlq replay shop --id 12 --id 13",
        ],
        {**CODES, 1: "records were refused again, or a database could not be reached"},
    ),
    "conflicts": Page(["kubectl graphsync conflicts list twoway", "kubectl graphsync conflicts show twoway ID"], CODES),
    "conflicts list": Page(
        [
            "kubectl graphsync conflicts list twoway       # through the pipeline's worker",
            "kubectl graphsync conflicts list twoway --all -o json",
        ],
        LISTED,
    ),
    "conflicts show": Page(
        ["kubectl graphsync conflicts show twoway 3f2a9c0d1b7e -o yaml"], {**CODES, 1: "no such conflict"}
    ),
    "conflicts resolve": Page(
        ["kubectl graphsync conflicts resolve twoway 3f2a9c0d1b7e --take source --note 'ERP is right'"],
        {**CODES, 1: "no open conflict with that id, or a database could not be reached"},
    ),
    "history": Page(
        ["kubectl graphsync history shop", "kubectl graphsync history shop --kind reconcile -o wide"], LISTED
    ),
    "checkpoints": Page(["kubectl graphsync checkpoints shop", "kubectl graphsync checkpoints shop -o yaml"], LISTED),
    "schema": Page(["kubectl graphsync schema shop", "kubectl graphsync schema shop --accept"], LISTED),
    "validate": Page(
        ["kubectl graphsync validate -f syncpipeline.yaml", "kubectl graphsync validate -f all.yaml -o json"],
        {
            0: "every document is valid",
            1: "a document is invalid: each field at fault is named",
            2: "the file is missing or not YAML",
        },
    ),
    "check": Page(
        [
            "kubectl graphsync check shop",
            "kubectl graphsync check shop -o json",
            "kubectl graphsync check shop --address postgres.shop.svc:5432=127.0.0.1:15432",
        ],
        {0: "every check passed (warnings allowed)", 1: "a check failed (each named, with how to fix it)", 2: CODES[2]},
    ),
    "completion": Page(
        [
            "source <(kubectl graphsync completion bash)",
            'kubectl graphsync completion zsh > "${fpath[1]}/_kubectl-graphsync"',
            "kubectl graphsync completion fish > ~/.config/fish/completions/kubectl-graphsync.fish",
        ],
        {0: "printed", 2: "an unknown shell"},
    ),
}
