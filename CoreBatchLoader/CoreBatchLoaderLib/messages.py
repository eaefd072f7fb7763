"""How the batch words what went wrong: one line per problem, whatever the source."""
from __future__ import annotations

import unicodedata
from typing import Sequence


def one_line(value: object, limit: int = 300) -> str:
    """``value`` (an exception or text) as one line of at most ``limit`` characters, as a record's
    error and every message of a batch must be; an exception without text gives its type."""
    return printable_line(str(value))[:limit] or type(value).__name__


def printable_line(text: str) -> str:
    """``text`` as one printable line, whatever format it goes into (LAS, CSV, SVG, HTML, MRML,
    a NRRD header, the terminal): line breaks, tabs and other control characters (an escape
    sequence, NUL, which XML forbids) become spaces and runs of spaces one; a lone surrogate (a
    name that was not UTF-8, read with ``surrogateescape``) becomes U+FFFD, which every UTF-8
    writer can write — a well named "W\\n~A" must not start a LAS section."""
    if text.isprintable():
        return " ".join(text.split())
    return " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else
                            "\ufffd" if unicodedata.category(c) == "Cs" else c for c in text).split())


def first_few(names: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` of ``names`` joined, with " …" when there are more: a warning names a
    few of the files or folders it is about, never hundreds."""
    return ", ".join(names[:limit]) + (" …" if len(names) > limit else "")
