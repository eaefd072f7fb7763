"""How the batch words what went wrong: one line per problem, whatever the source."""
from __future__ import annotations

from typing import Sequence


def one_line(value: object, limit: int = 300) -> str:
    """``value`` (an exception or text) as one line of at most ``limit`` characters, as a record's
    error and every message of a batch must be; an exception without text gives its type."""
    return " ".join(str(value).split())[:limit] or type(value).__name__


def first_few(names: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` of ``names`` joined, with " …" when there are more: a warning names a
    few of the files or folders it is about, never hundreds."""
    return ", ".join(names[:limit]) + (" …" if len(names) > limit else "")
