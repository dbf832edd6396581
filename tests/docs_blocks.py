"""The code blocks of the docs, and how the suite runs each: if a doc prints it, a test runs it.

A fenced block runs by its language: ``sh`` as a bash script (``set -euo pipefail``) in the
project, ``python`` as a script with the project's interpreter, ``yaml`` and ``toml`` parsed.
``text`` blocks are output or trees, not code. A comment on the line right above a fence,
``<!-- docs: KIND [ARGUMENT] -->``, changes what happens to the block:

- ``file PATH``: the block is a whole file; it is written to ``PATH`` in the project, whose gate
  (ruff, ruff format, the import contracts, mypy, pytest) then runs as the test says.
- ``excerpt PATH``: the block shows part of ``PATH``: every line of it stands in that file, in
  order, once the page has run (a page that changes a file shows the whole file last, as a
  ``file`` block, and excerpts of it on the way).
- ``background URL``: the block starts a server, which runs in the background until ``URL``
  answers; the following blocks talk to it; it is stopped when the page is done.
- ``not-run REASON``: the block cannot run on a CPU machine without network; ``REASON`` is one
  of ``NOT_RUN``, the one list of such exceptions, each with why.

Placeholders a reader replaces (``<run folder>``, the template's address) are replaced by the
test with what they stand for (``PLACEHOLDERS``).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Every exception to "if it is printed, it runs", with its reason. Keep this list short.
NOT_RUN = {
    "gpu": "needs a CUDA device (the GPU job of the generated CI runs the gpu-marked tests)",
    "cluster": "needs several machines or a scheduler: SLURM, Kubernetes, a multi-node torchrun",
    "docker": "needs a Docker engine, which CI machines of this template do not have",
    "remote": "needs a server or an account elsewhere: a team's MLflow server, W&B, GitHub",
    "interactive": "asks questions at a terminal; the same command with --defaults runs",
    "suite": "runs this template's own test suite, which is the suite running it (.ci/run)",
}
KINDS = ("file", "excerpt", "background", "not-run")

# Files the docs take a reader to have already (their own data), made by the test before a page
# runs, for the default task: a table of 16 features and a label, and the same without labels.
READER_FILES = ("features.csv", "held_out.csv")
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<language>[\w-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
MARK = re.compile(r"<!-- docs: (?P<kind>[\w-]+)(?: (?P<argument>[^>]*?))? -->\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block of a Markdown page, and the mark above it, if any."""

    page: str
    line: int
    language: str
    code: str
    kind: str = "run"
    argument: str = ""

    @property
    def where(self) -> str:
        """``page:line``, for messages."""
        return f"{self.page}:{self.line}"


def blocks(text: str, *, page: str) -> list[Block]:
    """Every fenced block of a Markdown text, with its mark.

    Raises:
        ValueError: If a mark names an unknown kind or reason.
    """
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        above = text[: match.start()].rstrip("\n").rpartition("\n")[2].strip()
        mark = MARK.search(above)
        kind, argument = (mark["kind"], (mark["argument"] or "").strip()) if mark else ("run", "")
        if mark and kind not in KINDS:
            raise ValueError(f"{page}:{line}: unknown docs mark {kind!r}; one of {KINDS}")
        if kind == "not-run" and argument not in NOT_RUN:
            raise ValueError(f"{page}:{line}: unknown reason {argument!r}; one of {list(NOT_RUN)}")
        code = textwrap.dedent(match["code"])
        found.append(Block(page, line, match["language"], code, kind, argument))
    return found


def shell_commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blanks left out."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for line in joined.splitlines():
        command = re.sub(r"(^|\s)#.*$", "", line).strip()
        if command:
            commands.append(command)
    return commands


def excerpt_missing(excerpt: str, text: str) -> list[str]:
    """The lines of ``excerpt`` that ``text`` lacks in that order (blank lines aside).

    An excerpt shows part of a file: its lines must all stand in the file, in the same order, each
    the same apart from leading whitespace.
    """
    have = [line.strip() for line in text.splitlines()]
    position, missing = 0, []
    for line in (line.strip() for line in excerpt.splitlines() if line.strip()):
        try:
            position = have.index(line, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def placeholders(text: str, values: dict[str, str]) -> str:
    """``text`` with each placeholder a reader replaces put in by its value."""
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def page_blocks(path: Path, *, page: str | None = None) -> list[Block]:
    """The blocks of the Markdown file ``path``."""
    return blocks(path.read_text(encoding="utf-8"), page=page or path.name)
