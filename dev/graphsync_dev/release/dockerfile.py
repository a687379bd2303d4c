"""The Dockerfile read as data: the release builder runs its recipe without an engine, so the image it makes
and the one `docker build` makes come from the same lines."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

# What a Debian image's PATH is before the recipe extends it (`$PATH` in an ENV line).
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    kept = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    joined = re.sub(r"\\\n", " ", kept)
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


@dataclass(frozen=True)
class Recipe:
    """The two stages of the image's Dockerfile."""

    build: list[Instruction]
    final: list[Instruction]

    @classmethod
    def parse(cls, text: str) -> Recipe:
        stages: list[list[Instruction]] = []
        for word, rest in instructions(text):
            if word == "FROM":
                stages.append([])
            stages[-1].append((word, rest))
        if len(stages) != 2:
            raise ValueError(f"the Dockerfile has {len(stages)} stages; the release builder knows two (build, final)")
        return cls(build=stages[0], final=stages[1])

    @classmethod
    def read(cls, path: Path) -> Recipe:
        return cls.parse(path.read_text())

    def base(self) -> str:
        """The image both stages start from."""
        [build_base, final_base] = (stage[0][1].split()[0] for stage in (self.build, self.final))
        if build_base != final_base:
            raise ValueError(f"the stages start from {build_base} and {final_base}; the builder makes one root")
        return build_base

    def packages(self) -> list[str]:
        """The Debian packages (`name=version`) the final stage installs."""
        return apt_packages(self.final)

    def env(self) -> dict[str, str]:
        """The final stage's environment, `$NAME` expanded as Docker does."""
        values = {"PATH": DEBIAN_PATH}
        for word, rest in self.final:
            if word == "ENV":
                for item in shlex.split(rest):
                    name, value = item.split("=", 1)
                    values[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m[1], ""), value)
        return values

    def labels(self, args: dict[str, str]) -> dict[str, str]:
        """The final stage's LABELs with `${ARG}` replaced by `args`."""
        found: dict[str, str] = {}
        for word, rest in self.final:
            if word == "LABEL":
                for item in shlex.split(rest):
                    name, value = item.split("=", 1)
                    found[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], value)
        return found

    def single(self, word: str) -> str:
        [value] = [rest for w, rest in self.final if w == word][-1:]
        return value

    def exec_form(self, word: str) -> list[str]:
        """ENTRYPOINT or CMD, which the recipe writes in exec (JSON) form."""
        value = json.loads(self.single(word))
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{word} is not in exec form: {value!r}")
        return value

    def build_runs(self) -> list[tuple[str, str]]:
        """(working directory, command) of each RUN of the build stage after the packages are in."""
        runs, cwd = [], "/"
        for word, rest in self.build:
            if word == "WORKDIR":
                cwd = rest
            elif word == "RUN" and "apt-get" not in rest:
                runs.append((cwd, rest))
        return runs

    def build_env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for word, rest in self.build:
            if word == "ENV":
                values |= dict(item.split("=", 1) for item in shlex.split(rest))
        return values

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, target) of the build stage's COPY steps: what it reads from the checkout."""
        found = []
        for word, rest in self.build:
            if word == "COPY":
                *sources, target = shlex.split(rest)
                found.append((sources, target))
        return found

    def user_runs(self) -> list[str]:
        """The final stage's RUN steps other than the package install (the user it runs as)."""
        return [rest for word, rest in self.final if word == "RUN" and "apt-get" not in rest]


def apt_packages(stage: list[Instruction]) -> list[str]:
    [command] = [rest for word, rest in stage if word == "RUN" and "apt-get install" in rest]
    words = shlex.split(command.split("apt-get install", 1)[1].split("&&", 1)[0])
    return [word for word in words if not word.startswith("-")]
