"""One output convention for every command that prints data, `graphsync ...` and `kubectl graphsync ...` alike.

As kubectl: a table (or a summary) for people by default, `-o wide` the same with more
columns, `-o json` and `-o yaml` the data for programs. Machine output has one key style,
camelCase (as the Kubernetes API), and says "unknown" as null or by leaving the key out:
the "-" a table shows for an empty cell never reaches it. Each command renders through a
pure function of plain data, so what it prints is tested without a server.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import yaml

JSON, YAML, WIDE = "json", "yaml", "wide"
FORMATS = (JSON, YAML, WIDE)
# What a table shows for a value that is not known (yet): never part of machine output.
EMPTY = "-"


def add_option(parser: argparse.ArgumentParser, *, wide: bool = True) -> None:
    """`-o json|yaml|wide` on every command alike (`wide`: whether its table has more to show; where it has not,
    `-o wide` prints what the default does, so a script may pass it to any command), and `--json`, the older
    spelling of `-o json`, kept so scripts written against it go on working (hidden from --help)."""
    parser.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default=None,
        help="json or yaml: the data for programs (camelCase keys, null when unknown); wide: "
        + ("the table with more columns" if wide else "as without -o (nothing more to show)"),
    )
    parser.add_argument("--json", dest="output", action="store_const", const=JSON, help=argparse.SUPPRESS)


def render(data: Any, output: str | None, text: Callable[[Any, bool], str]) -> str:
    """What a command prints for `data` (pure): `text(data, wide)` for people, else the data in JSON or YAML."""
    if output in (JSON, YAML):
        return machine(data, output)
    return text(data, output == WIDE)


def machine(data: Any, output: str) -> str:
    """`data` as JSON or YAML: values JSON cannot hold (times, decimals) as their text, as in both formats alike."""
    plain = json.loads(json.dumps(data, default=str))
    if output == YAML:
        return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True).rstrip("\n")
    return json.dumps(plain, indent=2, ensure_ascii=False)


def emit(data: Any, output: str | None, text: Callable[[Any, bool], str]) -> None:
    """Print `render(...)`; an empty text (nothing to show) prints nothing rather than a blank line."""
    shown = render(data, output, text)
    if shown:
        print(shown)


def camel(name: str) -> str:
    """`detected_at` -> `detectedAt`: the key style of machine output."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record`'s own keys in camelCase, one level only: values such as an entity's properties are user data
    whose names are kept as they are."""
    return {camel(key): value for key, value in record.items()}


def cell(value: Any) -> str:
    """A table cell: None is the table's empty mark, numbers get thousands separators."""
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, three spaces apart, as kubectl prints them."""
    rows = list(rows)
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
