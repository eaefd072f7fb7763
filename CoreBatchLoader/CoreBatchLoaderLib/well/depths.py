"""Depth tables: where each core was cut from the well, in metres along the hole.

Three ways to say it, each checked the same way:

- GeoSlicer's depth file: two columns, top and bottom in metres, no header, one row per core in
  the natural order of the core names (core_2 before core_10);
- a CSV with a header ``core,top,bottom[,flip]``, rows matched on the core name or its folder
  name, in any order; a folder holding several series gives several cores (``box3_s1``,
  ``box3_s2``: :func:`..dicom.discover.series_suffixes`), and a row may name each of them instead
  of the folder; rows for cores not in the batch are passed over (one table for the whole well
  serves a batch of some of its boxes), and name themselves when a core has no row;

both as a spreadsheet saves them: comma, semicolon, tab or space separated, with a decimal comma
where the separator is not a comma ("2450,75" in a ``;`` file, as Excel writes it in Brazil), in
UTF-8, UTF-16 or Windows-1252;
- a start depth and a fixed core length, for cores laid back to back.

Checks: bottom below top, no two cores overlapping, exactly one row per core, and (against the
scans) the scanned length close to the listed interval — a difference is a warning, everything
else an error naming the file and line.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..dicom.discover import SERIES_SUFFIX, natural_key


class DepthError(Exception):
    """The depth table cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class CoreDepth:
    """The interval one core came from; ``flip`` when its scan runs bottom to top."""

    core: str
    top_m: float
    bottom_m: float
    flip: bool = False
    line: Optional[int] = None  # where it was read, for messages
    folder: Optional[str] = None  # the core folder the row is for (its name as a core); None: ``core``

    @property
    def folder_name(self) -> str:
        return self.folder or self.core

    @property
    def length_mm(self) -> float:
        return (self.bottom_m - self.top_m) * 1000.0


def read_depth_table(path: Path, core_names: Sequence[str],
                     folder_names: Optional[Mapping[str, str]] = None) -> Dict[str, CoreDepth]:
    """Depths for the core folders ``core_names`` (each by the name its core gets when it holds
    one series) from ``path`` (GeoSlicer's two columns, or a CSV with a header).

    ``folder_names`` maps a core name to its folder's name, so CSV rows may use either.  A CSV row
    may also name one core of a folder holding several series (``box3_s2``); the depths are keyed
    by what the row names, and each says its ``folder``.  Whether a folder holds several series is
    known only once it is scanned: the batch checks after converting that every core found a row
    (:func:`unplaced_reason`).
    """
    path = Path(path)
    try:
        text = _spreadsheet_text(path.read_bytes())
    except OSError as exc:
        raise DepthError("%s: cannot read the depth table (%s)" % (path, exc)) from None
    rows = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise DepthError("%s: no depths in the file" % path)
    dialect = _Dialect.of(rows[0][1])
    first_cells = dialect.cells(rows[0][1])
    if first_cells and not dialect.is_number(first_cells[0]):
        depths = _named_rows(path, rows, core_names, folder_names or {}, dialect)
    else:
        depths = _ordered_rows(path, rows, core_names, dialect)
    check_intervals(path, depths)
    return depths


def _spreadsheet_text(data: bytes) -> str:
    """The text of a table in the encodings spreadsheets save: UTF-8 (with or without BOM),
    UTF-16 with a BOM ("Unicode text"), else Windows-1252 — Excel's plain CSV on Windows in
    Western locales, where a core named "Poço 7" is not UTF-8."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def back_to_back(core_names: Sequence[str], start_m: float, length_m: float) -> Dict[str, CoreDepth]:
    """Cores of equal length one after another from ``start_m``, in natural name order."""
    if length_m <= 0:
        raise DepthError("--core-length must be positive (got %g)" % length_m)
    ordered = sorted(core_names, key=natural_key)
    return {name: CoreDepth(name, start_m + n * length_m, start_m + (n + 1) * length_m, folder=name)
            for n, name in enumerate(ordered)}


def check_intervals(path: object, depths: Mapping[str, CoreDepth]) -> None:
    """Bottom below top for every core, and no two intervals overlapping."""
    for depth in depths.values():
        if not depth.bottom_m > depth.top_m:
            raise DepthError("%s line %s: bottom %g m is not below top %g m (core %s)" % (
                path, depth.line, depth.bottom_m, depth.top_m, depth.core))
    ordered = sorted(depths.values(), key=lambda d: d.top_m)
    for upper, lower in zip(ordered, ordered[1:]):
        if lower.top_m < upper.bottom_m - 1e-9:
            raise DepthError("%s line %s: core %s (%g–%g m) overlaps core %s (%g–%g m)" % (
                path, lower.line, lower.core, lower.top_m, lower.bottom_m, upper.core, upper.top_m,
                upper.bottom_m))


def length_warnings(depths: Mapping[str, CoreDepth], scanned_mm: Mapping[str, float],
                    tolerance: float = 0.05, minimum_mm: float = 20.0) -> Dict[str, str]:
    """Per core, a warning when the scan's length differs from its interval by more than
    ``tolerance`` (relative) and ``minimum_mm`` — cores shrink, crumble and get trimmed."""
    warnings = {}
    for name, depth in depths.items():
        scanned = scanned_mm.get(name)
        if scanned is None:
            continue
        difference = scanned - depth.length_mm
        if abs(difference) > max(minimum_mm, tolerance * depth.length_mm):
            warnings[name] = ("scanned length %.0f mm differs from the depth interval %.3f–%.3f m "
                              "(%.0f mm) by %+.0f mm" % (scanned, depth.top_m, depth.bottom_m,
                                                         depth.length_mm, difference))
    return warnings


def unplaced_reason(core: str, folder: str, folder_cores: Sequence[str], depths: Mapping[str, CoreDepth]) -> str:
    """Why the converted ``core`` has no depth, and what to write in the table: it comes from the
    core folder ``folder`` (named as a core), which turned out to hold ``folder_cores`` — known only
    after scanning, so a row for a folder holding several series cannot say which core it is."""
    rows = sorted((d for d in depths.values() if d.folder_name == folder), key=lambda d: d.core)
    own_rows = "; give each core a row of its own in a depth table with the header core,top,bottom[,flip] " \
               "(--depths): %s" % " and ".join('"%s,TOP,BOTTOM"' % c for c in folder_cores)
    for depth in rows:
        if depth.core == folder and core != folder:
            return ("no depth: the depth for folder %s (%s) cannot say which of its %d series it is: %s%s" % (
                folder, _where(depth), len(folder_cores), ", ".join(folder_cores), own_rows))
    if rows:
        return ("no depth: the depth table has rows for %s (%s) of folder %s but none for %s; add a row "
                "\"%s,TOP,BOTTOM\" (the folder holds %s)" % (", ".join(d.core for d in rows), ", ".join(_where(d) for d in rows),
                                                  folder, core, core, ", ".join(folder_cores)))
    return "no depth: no depth row names it or its folder %s%s" % (folder, own_rows if len(folder_cores) > 1 else "")


def _where(depth: CoreDepth) -> str:
    return "line %d" % depth.line if depth.line else "--start-depth/--core-length"


def _ordered_rows(path: Path, rows: List[tuple], core_names: Sequence[str], dialect: "_Dialect") -> Dict[str, CoreDepth]:
    ordered = sorted(core_names, key=natural_key)
    if len(rows) != len(ordered):
        raise DepthError("%s: %d depth rows for %d cores (one row per core, in core-name order)" % (
            path, len(rows), len(ordered)))
    depths = {}
    for (number, line), name in zip(rows, ordered):
        cells = dialect.cells(line)
        if len(cells) < 2:
            raise DepthError("%s line %d: expected two numbers, top and bottom in metres: %r" % (
                path, number, line.strip()))
        top, bottom = dialect.number(path, number, cells[0]), dialect.number(path, number, cells[1])
        depths[name] = CoreDepth(name, top, bottom, False, number, name)
    return depths


def _named_rows(path: Path, rows: List[tuple], core_names: Sequence[str],
                folder_names: Mapping[str, str], dialect: "_Dialect") -> Dict[str, CoreDepth]:
    header = [c.strip().lower() for c in dialect.cells(rows[0][1])]
    for needed in ("core", "top", "bottom"):
        if needed not in header:
            raise DepthError("%s line %d: the header needs columns core, top, bottom[, flip] (got %s)" % (
                path, rows[0][0], ", ".join(header)))
    lookup: Dict[str, str] = {}
    for name in core_names:
        lookup[name.lower()] = name
    for name, folder in folder_names.items():
        lookup.setdefault(folder.lower(), name)
    depths: Dict[str, CoreDepth] = {}
    strangers: List[str] = []  # rows for cores not in this batch: a well-wide table, or typos
    for number, line in rows[1:]:
        cells = dict(zip(header, dialect.cells(line)))
        label = (cells.get("core") or "").strip()
        name, folder = _resolve(label, lookup)
        if name is None or folder is None:
            strangers.append("%r (line %d)" % (label, number))
            continue
        if name in depths:
            raise DepthError("%s line %d: core %s listed twice (also line %s)" % (
                path, number, name, depths[name].line))
        other = next((d for d in depths.values() if d.folder == folder and (d.core == folder) != (name == folder)), None)
        if other is not None:
            raise DepthError("%s line %d: %s and %s (line %s) are the same core folder %s: give a row for the "
                             "folder or one for each of its cores, not both" % (
                                 path, number, name, other.core, other.line, folder))
        depths[name] = CoreDepth(name, dialect.number(path, number, cells.get("top", "")),
                                 dialect.number(path, number, cells.get("bottom", "")),
                                 _flip(path, number, cells.get("flip") or ""), number, folder)
    covered = {d.folder for d in depths.values()}
    missing = [n for n in core_names if n not in covered]
    if missing:
        raise DepthError("%s: no depth row for core%s %s%s" % (
            path, "s" if len(missing) > 1 else "", _few(missing),
            "; rows naming no core of this batch: %s" % _few(strangers) if strangers else ""))
    return depths


_CORE_OF_FOLDER = re.compile("(.+)(%s)" % SERIES_SUFFIX, re.IGNORECASE)  # a folder's name, a suffix: box3_s2
FLIPPED = ("1", "true", "yes", "y", "flip", "flipped")
NOT_FLIPPED = ("", "0", "false", "no", "n")


def _resolve(label: str, lookup: Mapping[str, str]) -> Tuple[Optional[str], Optional[str]]:
    """(the core the row names, its folder's core name), or (None, None): ``label`` names a
    folder (as its core or by the folder's own name, also as a path) or one core of a folder
    holding several series (the folder and a series suffix)."""
    for text in (label, os.path.basename(label)):
        folder = lookup.get(text.lower())
        if folder is not None:
            return folder, folder
        match = _CORE_OF_FOLDER.fullmatch(text)
        folder = lookup.get(match.group(1).lower()) if match else None
        if folder is not None:
            return folder + match.group(2).lower(), folder
    return None, None


def _flip(path: Path, line: int, text: str) -> bool:
    """The flip cell: one of ``FLIPPED`` or ``NOT_FLIPPED`` (any case); anything else is an error,
    never a silent "not flipped" (``x``, ``sim``, ``oui``…)."""
    value = text.strip().lower()
    if value in FLIPPED or value in NOT_FLIPPED:
        return value in FLIPPED
    raise DepthError("%s line %d: flip %r is not a flip value: write %s to flip the core, %s or leave it "
                     "empty not to" % (path, line, text.strip(), "/".join(FLIPPED), "/".join(NOT_FLIPPED[1:])))


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DECIMAL_COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+")


@dataclass(frozen=True)
class _Dialect:
    """How a table's cells are separated (None: runs of spaces or tabs), and whether its numbers
    may use a decimal comma — decided once, from the first row, for the whole file."""

    delimiter: Optional[str]
    decimal_comma: bool

    @classmethod
    def of(cls, first_row: str) -> "_Dialect":
        if ";" in first_row:
            return cls(";", True)
        if "\t" in first_row and not _NUMBER.match(first_row.strip()):
            return cls("\t", True)  # a header row with tabs: names may hold spaces ("Poço 7")
        if "," not in first_row:
            return cls(None, True)
        words = first_row.split()
        if len(words) >= 2 and all(_DECIMAL_COMMA_NUMBER.fullmatch(w) for w in words[:2]):
            return cls(None, True)  # "2450,0 2450,9": space separated, decimal commas
        return cls(",", False)

    def cells(self, line: str) -> List[str]:
        if self.delimiter is None:
            return line.split()
        return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=self.delimiter))]

    def is_number(self, text: str) -> bool:
        text = text.strip()
        return _NUMBER.fullmatch(text) is not None or (
            self.decimal_comma and _DECIMAL_COMMA_NUMBER.fullmatch(text) is not None)

    def number(self, path: Path, line: int, text: str) -> float:
        if not self.is_number(text):
            raise DepthError("%s line %d: %r is not a depth in metres" % (path, line, text))
        value = float(text.strip().replace(",", "."))
        if not math.isfinite(value):  # 1e309 reads as infinity
            raise DepthError("%s line %d: %r is not a finite depth in metres" % (path, line, text))
        return value


def _few(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (" and %d more" % (len(names) - limit) if len(names) > limit else "")
