"""Log lines with context: one per event, as text (a laptop) or one JSON object (a pod, for a log pipeline).

Every line carries the fields bound to the process (which pipeline, which pod) and those of
the unit of work it belongs to, set with `scope` around it: a correlation id per batch a
worker applies, per reconciliation run, per operator handler invocation or status write, so
`grep`ping one id (or filtering on it in Loki, Elasticsearch...) shows everything that
happened to that batch or resource, across modules and libraries. The per-work fields live in
a context variable: asyncio tasks and `asyncio.to_thread` carry them along, a new thread
starts without them (a batch's lines are the writer thread's, where the scope is set).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType

ENV = "GRAPHSYNC_LOG_FORMAT"
FORMATS = ("text", "json")
LEVEL_ENV = "GRAPHSYNC_LOG_LEVEL"
# The names a spec, a flag or GRAPHSYNC_LOG_LEVEL may give, quietest first.
LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CORRELATION_ID = "correlation_id"

# Fields of the whole process, bound once it knows them (the pod at start, the pipeline once its spec is read).
_process: dict[str, str] = {}
_work: ContextVar[Mapping[str, str]] = ContextVar("graphsync_log_fields", default=MappingProxyType({}))
# What a LogRecord carries of its own; anything else set through `extra=` is context too.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Set by our filter and by kopf's object loggers (the resource is taken from `k8s_ref`).
_KOPF_FIELDS = frozenset(("context", "k8s_ref", "k8s_skip", "settings"))


def bind(**fields: str) -> None:
    """Fields every later line of this process carries."""
    _process.update(fields)


def new_id() -> str:
    """A correlation id: short enough to read, random enough not to collide within a cluster's logs."""
    return uuid.uuid4().hex[:16]


@contextmanager
def scope(**fields: str) -> Iterator[None]:
    """Fields the lines logged within carry (in this thread or task and those it hands work to)."""
    token = _work.set({**_work.get(), **fields})
    try:
        yield
    finally:
        _work.reset(token)


def current() -> dict[str, str]:
    return {**_process, **_work.get()}


def choose(value: str | None) -> str:
    """The format GRAPHSYNC_LOG_FORMAT names (text when unset); ValueError naming the variable otherwise."""
    chosen = (value or "text").strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"{ENV}: {value!r} is not a log format: choose one of {', '.join(FORMATS)}")
    return chosen


def level_of(value: str | None, *, source: str = LEVEL_ENV) -> int:
    """The level `value` names (info when unset); ValueError naming `source` (where the value came from) otherwise."""
    chosen = (value or "info").strip().lower()
    if chosen not in LEVELS:
        raise ValueError(f"{source}: {value!r} is not a log level: choose one of {', '.join(LEVELS)}")
    return LEVELS[chosen]


class ContextFilter(logging.Filter):
    """Stamps each record with the context at the moment it was logged (a formatter may run later)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = current()
        return True


def _context(record: logging.LogRecord) -> dict[str, str]:
    found = dict(getattr(record, "context", None) or current())
    # kopf's per-object loggers name the resource in `k8s_ref`.
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, dict):
        found.update({key: str(ref[key]) for key in ("namespace", "name", "kind") if ref.get(key) and key not in found})
    return found


class OneLine(logging.Formatter):
    """One line per event, whatever the message holds (drivers' errors span lines, tracebacks do); the context
    fields follow as key=value."""

    def __init__(self, fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _context(record)
        if fields:
            text += " [" + " ".join(f"{key}={value}" for key, value in fields.items()) + "]"
        return text.replace("\n", "\\n")


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC, RFC 3339), level, logger, message, the context fields, and the
    exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in _KOPF_FIELDS and key not in line:
                line[key] = value
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO, *, replace: bool = True) -> None:
    """The root logger writes to stderr in `log_format` (see FORMATS), replacing any handler set before; with
    `replace` False, a root logger that has handlers already (a program or a test calling a command) is left as is."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonLines() if log_format == "json" else OneLine())
    logging.basicConfig(level=level, handlers=[handler], force=replace)


def configure_from_env(level: str | None = None) -> int:
    """`configure` as a pod is told: in the format GRAPHSYNC_LOG_FORMAT names, at `level` (a flag's) or else the
    level GRAPHSYNC_LOG_LEVEL names; returns the level. ValueError naming the variable at fault, set nothing then."""
    log_format = choose(os.environ.get(ENV))
    chosen = level_of(level or os.environ.get(LEVEL_ENV))
    configure(log_format, chosen)
    return chosen
