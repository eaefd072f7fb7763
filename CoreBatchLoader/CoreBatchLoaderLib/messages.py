"""How the batch words what went wrong: one line per problem, whatever the source."""
from __future__ import annotations

import unicodedata
from typing import Optional, Sequence


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


def human_bytes(count: Optional[float]) -> str:
    """Decimal units (MB = 10^6 bytes), as disk sizes are sold and ``df -H`` shows them."""
    value = float(count or 0)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (value, unit)
        value /= 1000
    return "%.1f TB" % value  # unreachable; keeps type checkers calm


def throughput(byte_count: float, seconds: float) -> Optional[float]:
    """Bytes a second of the voxel data this run converted, over the conversion's own wall-clock
    time (until its last core folder finished, not the well steps and report after it): the one
    figure the progress bar, the Slicer panel and the report show.  None before anything."""
    return byte_count / seconds if seconds > 0 and byte_count else None


def throughput_text(byte_count: float, seconds: float) -> str:
    """:func:`throughput` as people read it: "123.4 MB/s", or "—"."""
    rate = throughput(byte_count, seconds)
    return human_bytes(rate) + "/s" if rate else "—"


def first_few(names: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` of ``names`` joined, with " …" when there are more: a warning names a
    few of the files or folders it is about, never hundreds."""
    return ", ".join(names[:limit]) + (" …" if len(names) > limit else "")
