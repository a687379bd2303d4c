"""The end of every `graphsync ... --help`: examples and exit codes, by command path (see `helptext`)."""

from __future__ import annotations

from graphsync.commands.helptext import CODES, Page

BAD_SPEC = "bad input: the spec file (missing, not YAML, a field at fault) or an option"
LISTED = {0: "listed (also when there is nothing to list)", 1: "a database could not be reached", 2: BAD_SPEC}

PAGES = {
    "": Page(
        [
            "graphsync validate -f pipeline.yaml            # check a spec offline, before it runs",
            "graphsync run -f pipeline.yaml --until-idle    # sync once, then stop",
            "graphsync dlq list -f pipeline.yaml -o json",
            "source <(graphsync completion bash)            # complete commands and options in bash",
        ],
        {0: "done", 1: "the command failed (each command's --help says when)", 2: "bad input: options or spec"},
    ),
    "run": Page(
        [
            "graphsync run -f pipeline.yaml                 # until Ctrl-C or SIGTERM",
            "graphsync run -f pipeline.yaml --until-idle -o json",
            "graphsync run -f pipeline.yaml --role relay --log-level info",
        ],
        {0: "stopped, every item synced", 1: "items failed (they are in the dead-letter store)", 2: BAD_SPEC},
    ),
    "validate": Page(
        [
            "graphsync validate -f pipeline.yaml",
            "graphsync validate -f syncpipeline.yaml -o json   # a SyncPipeline manifest works too",
        ],
        {
            0: "the spec is valid",
            1: "the spec is invalid: each field at fault is named",
            2: "the file is missing or not YAML",
        },
    ),
    "check": Page(
        [
            "graphsync check -f pipeline.yaml               # connect, read, capture, write: before it runs",
            "graphsync check -f pipeline.yaml -o json",
        ],
        {0: "every check passed (warnings allowed)", 1: "a check failed (each named, with how to fix it)", 2: BAD_SPEC},
    ),
    "dlq": Page(["graphsync dlq list -f pipeline.yaml", "graphsync dlq replay -f pipeline.yaml --id 12"]),
    "dlq list": Page(
        [
            "graphsync dlq list -f pipeline.yaml",
            "graphsync dlq list -f pipeline.yaml --all -o wide    # replayed ones too, with attempts and origin",
            "graphsync dlq list -f pipeline.yaml -o json | jq '.[].reason'",
        ],
        LISTED,
    ),
    "dlq replay": Page(
        ["graphsync dlq replay -f pipeline.yaml", "graphsync dlq replay -f pipeline.yaml --id 12 --id 13"],
        {0: "replayed", 1: "records were refused again (named; they stay in the store)", 2: BAD_SPEC},
    ),
    "outbox": Page(["graphsync outbox status -f pipeline.yaml", "graphsync outbox events -f pipeline.yaml"]),
    "outbox status": Page(
        ["graphsync outbox status -f pipeline.yaml", "graphsync outbox status -f pipeline.yaml -o json"], LISTED
    ),
    "outbox events": Page(
        [
            "graphsync outbox events -f pipeline.yaml --status failed",
            "graphsync outbox events -f pipeline.yaml -o wide",
        ],
        LISTED,
    ),
    "reconcile": Page(
        [
            "graphsync reconcile -f pipeline.yaml                 # report differences",
            "graphsync reconcile -f pipeline.yaml --repair --entity customer",
            "graphsync reconcile -f pipeline.yaml -o json",
        ],
        {0: "in sync, or every difference repaired", 1: "differences remain, or the run failed", 2: BAD_SPEC},
    ),
    "conflicts": Page(
        ["graphsync conflicts list -f pipeline.yaml", "graphsync conflicts resolve -f pipeline.yaml ID --take source"]
    ),
    "conflicts list": Page(
        ["graphsync conflicts list -f pipeline.yaml", "graphsync conflicts list -f pipeline.yaml --all -o wide"],
        {**LISTED, 2: BAD_SPEC + "; a pipeline that is not bidirectional"},
    ),
    "conflicts show": Page(
        [
            "graphsync conflicts show -f pipeline.yaml 3f2a9c0d1b7e",
            "graphsync conflicts show -f pipeline.yaml 3f2a9c0d1b7e -o yaml",
        ],
        {0: "shown", 1: "no such conflict", 2: BAD_SPEC},
    ),
    "conflicts resolve": Page(
        [
            "graphsync conflicts resolve -f pipeline.yaml 3f2a9c0d1b7e --take target --note 'CRM wins'",
            "graphsync conflicts resolve -f pipeline.yaml 3f2a9c0d1b7e --data merged.json --by alice",
        ],
        {0: "resolved: the chosen version is on both sides", 1: "no open conflict with that id", 2: BAD_SPEC},
    ),
    "history": Page(
        ["graphsync history -f pipeline.yaml", "graphsync history -f pipeline.yaml --kind reconcile -o wide"], LISTED
    ),
    "checkpoints": Page(
        ["graphsync checkpoints -f pipeline.yaml", "graphsync checkpoints -f pipeline.yaml -o yaml"], LISTED
    ),
    "schema": Page(
        ["graphsync schema -f pipeline.yaml", "graphsync schema -f pipeline.yaml --accept   # a schema stop goes on"],
        {**LISTED, 2: BAD_SPEC + "; a source that is not PostgreSQL"},
    ),
    "cleanup": Page(
        ["graphsync cleanup -f pipeline.yaml", "graphsync cleanup -f pipeline.yaml -o json"],
        {0: "cleaned up (also when nothing was left)", 1: "a side could not be cleaned up (each named)", 2: BAD_SPEC},
    ),
    "kubectl": Page(
        ["graphsync kubectl status -A", "graphsync kubectl dlq list shop -n prod"],
        {**CODES, 2: "bad input, or the operator package (graphsync-operator) is not installed"},
    ),
    "completion": Page(
        [
            "source <(graphsync completion bash)",
            'graphsync completion zsh > "${fpath[1]}/_graphsync"',
            "graphsync completion fish > ~/.config/fish/completions/graphsync.fish",
        ],
        {0: "printed", 2: "an unknown shell"},
    ),
}
