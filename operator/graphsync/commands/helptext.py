"""Examples and exit codes at the end of every command's `--help`, kept in one table per program.

argparse builds the parsers where each command registers its options; the words a
person reads after them are set afterwards, by walking the finished tree, so a
command cannot be added without its page: `document` refuses a command it has no
page for, and a unit test walks every program's tree.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

EXAMPLES = "Examples:"
EXIT_CODES = "Exit codes:"
# What most commands mean by their exit codes; a page says its own where they differ.
CODES = {0: "done", 1: "a server could not be reached, or the action failed", 2: "bad input: options, spec, names"}


@dataclass(frozen=True)
class Page:
    """What `--help` ends with: examples (a command line each, `#` comments allowed) and the exit codes."""

    examples: Sequence[str]
    codes: Mapping[int, str] = field(default_factory=lambda: CODES)

    def epilog(self) -> str:
        lines = [EXAMPLES, *(f"  {example}" for example in self.examples), "", EXIT_CODES]
        lines += [f"  {code}  {meaning}" for code, meaning in sorted(self.codes.items())]
        return "\n".join(lines)


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the tree under `parser` (itself first), each with its path of subcommand names (pure)."""
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))


def document(root: argparse.ArgumentParser, pages: Mapping[str, Page]) -> None:
    """Give every parser under `root` its page (keyed by its path, "" for `root`); one already documented (a tree
    built elsewhere and mounted here) keeps its own. A parser without a page is a KeyError naming it."""
    for path, parser in walk(root):
        if parser.epilog is not None:
            continue
        if path not in pages:
            raise KeyError(f"{root.prog} {path}".strip() + ": no help page (examples and exit codes)")
        parser.epilog = pages[path].epilog()
        # Examples keep their lines; the description and options are wrapped as before.
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
