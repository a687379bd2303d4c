"""The plugin's command line: `kubectl graphsync ...` (the `kubectl-graphsync` executable on PATH) and
`graphsync-operator kubectl ...`, one parser for both.

kubectl hands a plugin every argument after its name, so `-n`, `-A`, `--context` and
`--kubeconfig` are taken before or after the subcommand, as kubectl takes them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from kubernetes.config import ConfigException
from urllib3.exceptions import HTTPError

from graphsync import __version__
from graphsync.commands import check, checkpoints, completion, conflicts, deadletter, history, output, schema
from graphsync.commands.helptext import document
from graphsync_operator.api import validation
from graphsync_operator.api.specs import API_VERSION
from graphsync_operator.kube import Kube, KubeError, default_namespace
from graphsync_operator.plugin import address, backfill, declared, engine, reset, steer, summary, through, version
from graphsync_operator.plugin.pages import PAGES
from graphsync_operator.plugin.steer import PluginError

MANAGER = "kubectl-graphsync"
Action = Callable[[Kube, "str | None", argparse.Namespace], int]


def build(root: argparse.ArgumentParser) -> None:
    """The plugin's options and subcommands, on `root`."""
    _connection(root, root=True, all_namespaces=True)
    root.add_argument("--version", action="version", version=f"kubectl-graphsync {__version__}")
    commands = root.add_subparsers(dest="plugin_command", required=True, metavar="COMMAND")
    status = _leaf(commands, "status", "pipelines, their reconciliation jobs and policies: a table", _status, True)
    status.add_argument("name", nargs="?", help="one SyncPipeline (with its jobs and policy)")
    output.add_option(status)
    shown = _leaf(commands, "version", "this plugin's release and every graphsync operator's in the cluster", _version)
    output.add_option(shown, wide=False)
    for verb, suspend, what in (("pause", True, "stop the workers"), ("resume", False, "start them again")):
        suspender = _leaf(commands, verb, f"{what}: spec.suspend={str(suspend).lower()}", _suspender(suspend))
        suspender.add_argument("name", help="NAME (a SyncPipeline) or rj/NAME")
        _wait(suspender)
    sync = _leaf(commands, "sync-now", "start a run of a scheduled SyncPipeline now", _requester("SyncPipeline"))
    sync.add_argument("name", help="the SyncPipeline")
    _wait(sync)
    rec = _leaf(commands, "reconcile-now", "start a ReconciliationJob's run now", _requester("ReconciliationJob"))
    rec.add_argument("name", help="the ReconciliationJob")
    _wait(rec)
    back = _leaf(commands, "backfill", "write a SyncPipeline's entities again from its source", _namespaced(_backfill))
    back.add_argument("name", help="the SyncPipeline")
    back.add_argument(
        "--entity", action="append", default=[], help="an entity type (mapping name); repeatable; default all"
    )
    back.add_argument(
        "--id", action="append", default=[], dest="ids", help="only this key of the node type; repeatable"
    )
    back.add_argument("--after", help="only keys above this one (of the node type)")
    back.add_argument("--through", help="only keys up to and including this one (of the node type)")
    back.add_argument("--backfill-name", help="its name in spec.backfills (default: backfill_<time>); a name runs once")
    _wait(back, "return once a worker has finished it")
    moved = _leaf(commands, "reset", "set a SyncPipeline's checkpoint back or forward", _namespaced(_reset))
    moved.add_argument("name", help="the SyncPipeline")
    moved.add_argument(
        "--checkpoint", required=True, help="stream, slot, snapshot, files or watermark:<entity> (see checkpoints)"
    )
    move = moved.add_mutually_exclusive_group(required=True)
    move.add_argument("--back", type=int, metavar="N", help="stream: read the last N changes again")
    move.add_argument("--forward", type=int, metavar="N", help="stream or slot: skip the next N changes")
    move.add_argument("--to", help="start, end, an LSN (slot) or a watermark's JSON value")
    moved.add_argument("--reset-name", help="its name in spec.checkpointResets (default: reset_<time>)")
    _wait(moved, "return once a worker has applied (or refused) it; exit 1 when refused")
    _engine_commands(commands)
    completion.register(commands, parser, "kubectl-graphsync", completion.SHELLS)
    document(root, PAGES)


def _engine_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The engine's own commands, on a SyncPipeline of the cluster instead of a spec file; and `validate`, which
    needs no cluster."""
    dlq = commands.add_parser("dlq", help="a pipeline's dead-letter store: list, replay", allow_abbrev=False)
    _connection(dlq)
    deadletter.add_dlq_actions(dlq, _pipeline(_through_worker(engine.dead_letters), direct=True))
    held = commands.add_parser(
        "conflicts", help="conflicts a bidirectional pipeline holds: list, show, resolve", allow_abbrev=False
    )
    _connection(held)
    conflicts.add_actions(held, _pipeline(_through_worker(engine.held_conflicts), direct=True))
    runs = commands.add_parser(
        "history", help="a pipeline's last sync runs and reconciliations, newest first", allow_abbrev=False
    )
    history.add_options(runs, _pipeline(engine.run_history))
    kept = commands.add_parser(
        "checkpoints", help="every position a pipeline keeps: snapshot, watermarks, slot or streams", allow_abbrev=False
    )
    checkpoints.add_options(kept, _pipeline(engine.run_checkpoints))
    shape = commands.add_parser(
        "schema", help="how the mapped tables' columns changed; --accept ends a schema stop", allow_abbrev=False
    )
    schema.add_options(shape, _pipeline(engine.run_schema))
    preflight = commands.add_parser(
        "check", help="before it runs: connectivity, permissions, replica identity, indexes", allow_abbrev=False
    )
    check.add_options(preflight, _pipeline(engine.run_check))
    checked = commands.add_parser(
        "validate",
        help="check SyncPipeline, ReconciliationJob and ConflictPolicy manifests offline",
        allow_abbrev=False,
    )
    validation.add_options(checked)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`graphsync-operator kubectl ...`: the same commands for those who do not use kubectl's plugins."""
    build(subparsers.add_parser("kubectl", help="the kubectl graphsync plugin: status, pause, resume, ..."))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="kubectl graphsync", description="Watch and steer graphsync's resources.", allow_abbrev=False
    )
    build(root)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code


def run(args: argparse.Namespace) -> int:
    """Every subcommand's handler: connect as the user, act, and turn failures into a message and an exit code."""
    try:
        kube = Kube.connect(config_file=args.kubeconfig, context=args.context, manager=MANAGER)
        namespace = None
        if not args.all_namespaces:
            namespace = args.namespace or default_namespace(config_file=args.kubeconfig, context=args.context)
        code: int = args.action(kube, namespace, args)
    except (PluginError, ConfigException) as exc:
        print(f"kubectl graphsync: {exc}", file=sys.stderr)
        return 2
    except (KubeError, HTTPError, TimeoutError, engine.Unreachable) as exc:
        print(f"kubectl graphsync: {exc}", file=sys.stderr)
        return 1
    return code


def _status(kube: Kube, namespace: str | None, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    pipelines, jobs, policies = summary.select(
        kube.list(API_VERSION, "SyncPipeline", namespace),
        kube.list(API_VERSION, "ReconciliationJob", namespace),
        kube.list(API_VERSION, "ConflictPolicy", namespace),
        args.name,
    )
    if args.name and not pipelines:
        where = "any namespace" if namespace is None else f"namespace {namespace!r}"
        raise PluginError(f"SyncPipeline {args.name!r} not found in {where}")
    report = summary.Report(
        pipelines=[summary.pipeline_row(p, now) for p in pipelines],
        jobs=[summary.job_row(j, now) for j in jobs],
        policies=[summary.policy_row(p) for p in policies],
    )
    if args.output in (output.JSON, output.YAML):
        print(output.machine(report.data(), args.output))
    elif not (pipelines or jobs or policies):
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No graphsync resources found in {where}.", file=sys.stderr)
    else:
        print(summary.render(report, all_namespaces=namespace is None, wide=args.output == output.WIDE))
    return 0


def _version(kube: Kube, _namespace: str | None, args: argparse.Namespace) -> int:
    """Operators are looked for in every namespace (they run in their own); a user who may not list them there
    still gets the plugin's version, and why the operator's is unknown."""
    try:
        data = version.report(version.operators(kube.list("apps/v1", "Deployment", None, version.OPERATOR_SELECTOR)))
    except KubeError as exc:
        data = version.report(None, f"cannot list Deployments in all namespaces: {exc}")
    output.emit(data, args.output, lambda found, _wide: version.text(found))
    return 0


def _backfill(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    name = args.backfill_name or backfill.default_name(datetime.now(UTC))
    item = backfill.document(name, args.entity, args.ids, args.after, args.through)
    wait = args.timeout if args.wait else None
    done = declared.add(kube, namespace, args.name, backfill.BACKFILLS, item, check=backfill.check, wait=wait)
    if done is not None:
        counts = f"{done.get('compared', 0)} compared, {done.get('written', 0)} written"
        print(f"backfill {name}: {done.get('phase')}, {counts}")
    return 0


def _reset(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    name = args.reset_name or reset.default_name(datetime.now(UTC))
    item = reset.document(name, args.checkpoint, args.back, args.forward, args.to)
    wait = args.timeout if args.wait else None
    done = declared.add(kube, namespace, args.name, reset.RESETS, item, check=reset.check, wait=wait)
    if done is not None:
        print(reset.said(done))
        return 0 if done.get("phase") == "Applied" else 1
    return 0


def _namespaced(action: Callable[[Kube, str, argparse.Namespace], int]) -> Action:
    """Every command but status acts on one named resource, so in one namespace."""

    def act(kube: Kube, namespace: str | None, args: argparse.Namespace) -> int:
        if namespace is None:
            raise PluginError(f"{args.plugin_command}: -A/--all-namespaces works with status only; use -n")
        return action(kube, namespace, args)

    return act


def _suspender(suspend: bool) -> Action:
    @_namespaced
    def act(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
        wait = args.timeout if args.wait else None
        print(steer.set_suspend(kube, namespace, args.name, suspend=suspend, wait=wait))
        return 0

    return act


def _requester(kind: str) -> Action:
    @_namespaced
    def act(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
        wait = args.timeout if args.wait else None
        print(steer.run_now(kube, namespace, args.name, kind=kind, now=datetime.now(UTC), wait=wait))
        return 0

    return act


def _through_worker(
    direct: Callable[[Kube, str, argparse.Namespace], int],
) -> Callable[[Kube, str, argparse.Namespace], int]:
    """Reads go through the pipeline's worker unless --direct or --address; writes are always `direct`."""

    def act(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
        return through.ask(kube, namespace, args) if through.served(args) else direct(kube, namespace, args)

    return act


def _pipeline(
    action: Callable[[Kube, str, argparse.Namespace], int], *, direct: bool = False
) -> Callable[[argparse.ArgumentParser], None]:
    """How an engine action names its pipeline here: the SyncPipeline's name, in the namespace; `direct`: the
    action reads through the pipeline's worker unless --direct says to connect from here."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="the SyncPipeline")
        parser.add_argument(
            "--address",
            type=_address,
            action="append",
            default=[],
            dest="addresses",
            metavar="NAME:PORT=HOST:PORT",
            help="connect to HOST:PORT wherever the pipeline names NAME:PORT (e.g. a kubectl port-forward); repeatable",
        )
        if direct:
            parser.add_argument(
                "--direct",
                action="store_true",
                help="read the store from here, with the pipeline's Secrets, not through its worker (implied by"
                " --address; replay and resolve always do)",
            )
        _connection(parser)
        parser.set_defaults(handler=run, action=_namespaced(action), direct=False)

    return add


def _leaf(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    action: Action,
    all_namespaces: bool = False,
) -> argparse.ArgumentParser:
    # No abbreviations: `status --all` must not be taken for --all-namespaces.
    parser = commands.add_parser(name, help=help_text, allow_abbrev=False)
    _connection(parser, all_namespaces=all_namespaces)
    parser.set_defaults(handler=run, action=action)
    return parser


def _connection(parser: argparse.ArgumentParser, *, root: bool = False, all_namespaces: bool = False) -> None:
    """Where to look. A subcommand's options default to SUPPRESS, so the root's values stand unless given again."""
    default = None if root else argparse.SUPPRESS
    parser.add_argument("-n", "--namespace", default=default, help="default: the kubeconfig context's namespace")
    if all_namespaces:
        parser.add_argument("-A", "--all-namespaces", action="store_true", default=default or False)
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument("--kubeconfig", default=default, help="default: KUBECONFIG or ~/.kube/config")


def _address(text: str) -> address.Address:
    try:
        return address.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _wait(parser: argparse.ArgumentParser, until: str = "return once the operator has acted on it") -> None:
    parser.add_argument("--wait", action="store_true", help=until)
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="of --wait (default 60)")


if __name__ == "__main__":
    sys.exit(main())
