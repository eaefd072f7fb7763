"""Depth tables: where each core was cut from the well, along the hole.

Three ways to say it, each checked the same way:

- GeoSlicer's depth file: two columns, top and bottom, no header (or a header naming only top
  and bottom), one row per core in the natural order of the core names (core_2 before core_10);
- a table with a header naming the core, top, bottom and (optionally) flip columns, rows matched
  on the core name or its folder name, in any order; a folder holding several series gives
  several cores (``box3_s1``, ``box3_s2``: :func:`..dicom.discover.series_suffixes`), and a row
  may name each of them instead of the folder; rows for cores not in the batch are passed over
  (one table for the whole well serves a batch of some of its boxes), and name themselves when a
  core has no row.  The header may be written as labs write it: ``Core,Top (m),Bottom (m)``,
  ``Core ID,Top Depth,Bottom Depth``, ``core,top_ft,bottom_ft`` (:data:`COLUMN_NAMES`; other
  columns are passed over);

both as a spreadsheet saves them: comma, semicolon, tab or space separated, with a decimal comma
where the separator is not a comma ("2450,75" in a ``;`` file, as Excel writes it in Brazil), in
UTF-8, UTF-16 or Windows-1252, or an Excel workbook (``.xlsx``, its first sheet, read with
openpyxl);
- a start depth and a fixed core length, for cores laid back to back.

Depths are metres unless the header gives a unit (``Top (ft)``, ``Bottom [m]``, ``top_ft``) or
the caller does (``--depth-unit ft``); the two must agree.  Feet are converted to metres on
reading (0.3048 m exactly): everything after this module is in metres.

Checks: bottom below top, no two cores overlapping, exactly one row per core, and (against the
scans) the scanned length close to the listed interval — a difference is a warning, everything
else an error naming the file and line.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..dicom.discover import SERIES_SUFFIX, natural_key
from ..dicom.header_scanner import NotRegularFile, open_regular
from ..messages import one_line

MAX_DEPTH = 70_000.0  # |depth| a well can have: 20 km (deeper than any well: Kola SG-3, 12.3 km) in metres
# or written in feet (65,617 ft); beyond it, 1e308 m overflowed to NaN deep inside the placement
DEPTH_RANGE = "depths lie within ±%.0f: 20 km in metres or in feet" % MAX_DEPTH
MAX_TABLE_BYTES = 256 << 20  # a row per core is ~40 bytes: millions of cores; /dev/zero never ends


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
    unit: str = "m"  # the unit the table wrote it in (the numbers here are metres), for messages

    def shown(self, metres: float) -> str:
        """A depth of this core in the unit its table used: "2450.9 m", "8041.3 ft"."""
        return "%g %s" % (round(metres / DEPTH_UNITS[self.unit], 9), self.unit)

    def interval(self) -> str:
        """"2450.9–2451.8 m" in the unit its table used."""
        return "%g–%s" % (round(self.top_m / DEPTH_UNITS[self.unit], 9), self.shown(self.bottom_m))

    @property
    def folder_name(self) -> str:
        return self.folder or self.core

    @property
    def length_mm(self) -> float:
        return (self.bottom_m - self.top_m) * 1000.0


FEET_IN_METRES = 0.3048  # the international foot, exactly
DEPTH_UNITS = {"m": 1.0, "ft": FEET_IN_METRES}  # what --depth-unit accepts, in metres
_UNIT_WORDS = {"m": "m", "metre": "m", "metres": "m", "meter": "m", "meters": "m", "mbsf": "m", "md": "m",
               "ft": "ft", "feet": "ft", "foot": "ft", "fbsf": "ft"}
_UNIT_TEXT = {"m": "metres", "ft": "feet"}  # for messages: "'abc' is not a depth in feet"
COLUMN_NAMES = {  # what a header may call each column (any case, "_" "-" "." as spaces, the unit apart)
    "core": ("core", "core id", "core name", "core no", "core number", "core #", "name", "id"),
    "top": ("top", "top depth", "depth top", "top md", "from", "from depth", "depth from"),
    "bottom": ("bottom", "bottom depth", "depth bottom", "bottom md", "base", "base depth", "bot", "to",
               "to depth", "depth to"),
    "flip": ("flip", "flipped"),
}
XLSX_MISSING = "reading an Excel workbook (.xlsx) needs openpyxl: pip install openpyxl"


def unit_factor(unit: Optional[str]) -> float:
    """Metres per ``unit`` ("m", "ft"; None: metres)."""
    return DEPTH_UNITS[unit or "m"]


def read_depth_table(path: Path, core_names: Sequence[str],
                     folder_names: Optional[Mapping[str, str]] = None,
                     unit: Optional[str] = None) -> Dict[str, CoreDepth]:
    """Depths for the core folders ``core_names`` (each by the name its core gets when it holds
    one series) from ``path`` (GeoSlicer's two columns, or a table with a header; text or .xlsx).

    ``folder_names`` maps a core name to its folder's name, so named rows may use either.  A row
    may also name one core of a folder holding several series (``box3_s2``); the depths are keyed
    by what the row names, and each says its ``folder``.  Whether a folder holds several series is
    known only once it is scanned: the batch checks after converting that every core found a row
    (:func:`unplaced_reason`).  ``unit`` ("m" or "ft", ``--depth-unit``): the unit of depths whose
    header names none; None: what the header names, else metres.
    """
    path = Path(path)
    table = _Table.of(path)
    first = next(table.rows, None)
    if first is None:
        raise DepthError("%s: no depths in the file" % path)
    first_cells = first[1]
    if first_cells and not table.dialect.is_number(first_cells[0]):
        header = _Header.of(path, first, unit)
        if "core" not in header.columns:  # "Top (ft),Bottom (ft)": GeoSlicer's rows under a header
            depths = _ordered_rows(path, table.rows, core_names, table.dialect, header)
        else:
            depths = _named_rows(path, table.rows, core_names, folder_names or {}, table.dialect, header)
    else:
        depths = _ordered_rows(path, itertools.chain([first], table.rows), core_names, table.dialect,
                               _Header.plain(unit))
    check_intervals(path, depths)
    return depths


@dataclass(frozen=True)
class _Table:
    """A table's rows (line number, cells) as they are read, comments and empty rows left out,
    and how its numbers are written.  A text table streams: a whole-well table of millions of
    rows is never held at once (a 66 MB one took 675 MB as text and lists of cells)."""

    rows: Iterator[Tuple[int, List[str]]]
    dialect: "_Dialect"

    @classmethod
    def of(cls, path: Path) -> "_Table":
        stream = _open_table(path)
        try:
            kind = _binary_kind(stream.read(200))
            if kind == "xlsx":
                stream.close()
                return cls(iter(_workbook_rows(path)), _Dialect(None, True))
            if kind is not None:
                raise DepthError("%s: %s, not a depth table: save it as .xlsx or as CSV" % (path, kind))
            lines = _text_lines(path, stream)
        except BaseException:
            stream.close()
            raise
        first = next(lines, None)
        dialect = _Dialect.of(first[1]) if first else _Dialect(",", False)
        return cls(((n, dialect.cells(line)) for n, line in itertools.chain([first] if first else [], lines)), dialect)


def _open_table(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file: a FIFO would block the batch until
    someone writes to it, ``/dev/zero`` fill memory (:func:`..dicom.header_scanner.open_regular`)."""
    try:
        return open_regular(str(path))
    except NotRegularFile as exc:
        raise DepthError("%s: %s (a depth table must be a regular file)" % (
            path, (exc.strerror or "not a regular file").split(",")[0])) from None
    except OSError as exc:
        raise DepthError("%s: cannot read the depth table (%s)" % (path, exc.strerror or exc)) from None


def _text_lines(path: Path, stream: BinaryIO) -> Iterator[Tuple[int, str]]:
    """(line number, text) of each line of a text table that is not empty or a ``#`` comment,
    read as it streams in the encoding :func:`_spreadsheet_encoding` finds; closes ``stream``."""
    with stream:
        encoding = _spreadsheet_encoding(path, stream)
        stream.seek(0)
        try:
            for number, line in enumerate(io.TextIOWrapper(stream, encoding=encoding, errors="replace",
                                                           newline=None), 1):
                line = line.rstrip("\n")
                if line.strip() and not line.lstrip().startswith("#"):
                    yield number, line
        except OSError as exc:
            raise DepthError("%s: cannot read the depth table (%s)" % (path, exc.strerror or exc)) from None


def _spreadsheet_encoding(path: Path, stream: BinaryIO) -> str:
    """The encoding of a table in the encodings spreadsheets save: UTF-16 with a BOM ("Unicode
    text"), else UTF-8 (with or without BOM) when the whole file decodes so, else Windows-1252 —
    Excel's plain CSV on Windows in Western locales, where a core named "Poço 7" is not UTF-8.
    Reads the file once, a chunk at a time; past :data:`MAX_TABLE_BYTES`, or at a NUL (a picture,
    a PDF: never its bytes in a message), it is no depth table."""
    stream.seek(0)
    chunk = stream.read(1 << 20)
    encoding = "utf-16" if chunk[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)("replace" if encoding == "utf-16" else "strict")
    size = 0
    while chunk:
        size += len(chunk)
        if size > MAX_TABLE_BYTES:
            raise DepthError("%s: more than %d MB, too large for a depth table" % (path, MAX_TABLE_BYTES >> 20))
        if encoding == "utf-16":
            binary = "\x00" in decoder.decode(chunk)
        else:
            binary = b"\x00" in chunk
            if encoding == "utf-8-sig":
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    encoding = "cp1252"
        if binary:
            raise DepthError("%s: binary data, not a depth table (a CSV or text table, or an .xlsx workbook)" % path)
        chunk = stream.read(1 << 20)
    return encoding


def _binary_kind(data: bytes) -> Optional[str]:
    """"xlsx" for a zip file (an Office Open XML workbook: openpyxl says if it is not), what
    other spreadsheet file it is (for the error), or None for text."""
    if data[:4] == b"PK\x03\x04":
        if b"mimetypeapplication/vnd.oasis.opendocument" in data[:200]:
            return "an OpenDocument spreadsheet (.ods)"
        return "xlsx"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "a legacy Excel workbook (.xls)"
    return None


def _workbook_rows(path: Path) -> List[Tuple[int, List[str]]]:
    """The first sheet's rows as text cells (row number, cells), empty rows and ``#`` rows left
    out, empty cells at the end dropped; numbers as Python writes them, TRUE/FALSE as true/false."""
    try:
        import openpyxl
    except ImportError:
        raise DepthError("%s: %s" % (path, XLSX_MISSING)) from None
    try:
        workbook = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # a damaged or encrypted workbook: openpyxl raises many types
        raise DepthError("%s: not readable as an Excel workbook (%s)" % (path, one_line(exc))) from None
    try:
        rows = []
        for number, values in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1):
            cells = [_cell_text(value) for value in values]
            while cells and not cells[-1]:
                cells.pop()
            if cells and not cells[0].startswith("#"):
                rows.append((number, cells))
        return rows
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


@dataclass(frozen=True)
class _Header:
    """Which cell holds which column (core, top, bottom, flip: :data:`COLUMN_NAMES`), and the
    unit of the top and bottom depths."""

    columns: Dict[str, int]
    units: Dict[str, str]  # "top", "bottom" → "m" or "ft"

    @classmethod
    def plain(cls, unit: Optional[str]) -> "_Header":
        """No header: top and bottom in the first two cells, in ``unit`` (None: metres)."""
        return cls({"top": 0, "bottom": 1}, {"top": unit or "m", "bottom": unit or "m"})

    @classmethod
    def of(cls, path: Path, row: Tuple[int, List[str]], unit: Optional[str]) -> "_Header":
        """The header ``row``; ``unit``: the caller's (``--depth-unit``), which a unit the header
        names must agree with.  A depth column without a unit takes the other's, else ``unit``,
        else metres ("Top (ft), Bottom": both in feet)."""
        number, cells = row
        columns: Dict[str, int] = {}
        stated: Dict[str, str] = {}  # role → the unit its header cell names
        for index, cell in enumerate(cells):
            role, cell_unit = _column(path, number, cell)
            if role is None:
                continue  # a lab's other columns: lithology, recovery, remarks
            if role in columns:
                raise DepthError("%s line %d: columns %r and %r both give the core's %s" % (
                    path, number, cells[columns[role]], cell, role))
            columns[role] = index
            if cell_unit is not None:
                if unit is not None and cell_unit != unit:
                    raise DepthError("%s line %d: column %r is in %s but --depth-unit says %s" % (
                        path, number, cell, cell_unit, unit))
                stated[role] = cell_unit
        if "top" not in columns or "bottom" not in columns:
            raise DepthError("%s line %d: the header needs columns core, top, bottom[, flip] (got %s); accepted "
                             "names: %s" % (path, number, ", ".join(cells), "; ".join(
                                 "%s: %s" % (role, ", ".join(names)) for role, names in COLUMN_NAMES.items())))
        default = unit or (next(iter(stated.values())) if len(set(stated.values())) == 1 else "m")
        return cls(columns, {role: stated.get(role, default) for role in ("top", "bottom")})

    def cell(self, cells: Sequence[str], role: str) -> str:
        index = self.columns.get(role)
        return cells[index] if index is not None and index < len(cells) else ""

    def depth(self, path: Path, line: int, cells: Sequence[str], role: str, dialect: "_Dialect") -> float:
        """The ``role`` ("top" or "bottom") cell of a row, in metres."""
        unit = self.units[role]
        return dialect.number(path, line, self.cell(cells, role), unit) * DEPTH_UNITS[unit]


_UNIT_CELL = re.compile(r"(?P<name>.*?)\s*[(\[]\s*(?P<unit>[^)\]]*?)\s*[)\]]\s*")  # "Top Depth (ft)"
_UNIT_SUFFIX = re.compile(r"(?P<name>.+?) (?P<unit>m|ft|metres|meters|feet)")  # "top_m", normalised


def _column(path: Path, line: int, cell: str) -> Tuple[Optional[str], Optional[str]]:
    """(the column a header cell names, or None; its unit, or None): ``Top (m)``, ``top_ft``,
    ``Bottom Depth [ft]``.  A depth column's unit that is no length unit this knows is an error,
    never a depth silently taken as metres."""
    text, unit = cell.strip(), None
    bracketed = _UNIT_CELL.fullmatch(text)
    if bracketed:
        text, unit = bracketed.group("name"), bracketed.group("unit").strip().lower()
    name = " ".join(re.sub(r"[_\-.]+", " ", text.lower()).split())
    role = _role(name)
    if role is None and unit is None:
        suffixed = _UNIT_SUFFIX.fullmatch(name)
        if suffixed and _role(suffixed.group("name")) in ("top", "bottom"):
            role, unit = _role(suffixed.group("name")), suffixed.group("unit")
    if role not in ("top", "bottom") or unit is None:
        return role, None
    if unit not in _UNIT_WORDS:
        raise DepthError("%s line %d: column %r: %r is not a depth unit this reads (m or ft)" % (
            path, line, cell, unit))
    return role, _UNIT_WORDS[unit]


def _role(name: str) -> Optional[str]:
    return next((role for role, names in COLUMN_NAMES.items() if name in names), None)


def back_to_back(core_names: Sequence[str], start_m: float, length_m: float, unit: str = "m") -> Dict[str, CoreDepth]:
    """Cores of equal length one after another from ``start_m``, in natural name order
    (``unit``: what the user gave them in, for messages)."""
    if length_m <= 0:
        raise DepthError("--core-length must be positive (got %g %s)" % (length_m / DEPTH_UNITS[unit], unit))
    ordered = sorted(core_names, key=natural_key)
    for option, value_m in (("--start-depth", start_m), ("--start-depth + --core-length × %d cores" % len(ordered),
                                                          start_m + len(ordered) * length_m)):
        if not well_depth(value_m / DEPTH_UNITS[unit]):
            raise DepthError("%s: %g %s is not a depth in a well (%s)" % (
                option, value_m / DEPTH_UNITS[unit], unit, DEPTH_RANGE))
    return {name: CoreDepth(name, start_m + n * length_m, start_m + (n + 1) * length_m, folder=name, unit=unit)
            for n, name in enumerate(ordered)}


def check_intervals(path: object, depths: Mapping[str, CoreDepth]) -> None:
    """Bottom below top for every core, and no two intervals overlapping."""
    for depth in depths.values():
        if not depth.bottom_m > depth.top_m:
            raise DepthError("%s line %s: bottom %s is not below top %s (core %s)" % (
                path, depth.line, depth.shown(depth.bottom_m), depth.shown(depth.top_m), depth.core))
    ordered = sorted(depths.values(), key=lambda d: d.top_m)
    for upper, lower in zip(ordered, ordered[1:]):
        if lower.top_m < upper.bottom_m - 1e-9:
            raise DepthError("%s line %s: core %s (%s) overlaps core %s (%s)" % (
                path, lower.line, lower.core, lower.interval(), upper.core, upper.interval()))


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


def _ordered_rows(path: Path, rows: Iterable[Tuple[int, List[str]]], core_names: Sequence[str], dialect: "_Dialect",
                  header: _Header) -> Dict[str, CoreDepth]:
    ordered = sorted(core_names, key=natural_key)
    rows = iter(rows)
    first = list(itertools.islice(rows, len(ordered)))
    count = len(first) + sum(1 for _ in rows)
    if count != len(ordered):
        raise DepthError("%s: %d depth rows for %d cores (one row per core, in core-name order)" % (
            path, count, len(ordered)))
    depths = {}
    for (number, cells), name in zip(first, ordered):
        if len(cells) < 2:
            raise DepthError("%s line %d: expected two numbers, top and bottom in %s: %r" % (
                path, number, _UNIT_TEXT[header.units["top"]], " ".join(cells)))
        depths[name] = CoreDepth(name, header.depth(path, number, cells, "top", dialect),
                                 header.depth(path, number, cells, "bottom", dialect), False, number, name,
                                 header.units["top"])
    return depths


def _named_rows(path: Path, rows: Iterable[Tuple[int, List[str]]], core_names: Sequence[str],
                folder_names: Mapping[str, str], dialect: "_Dialect", header: _Header) -> Dict[str, CoreDepth]:
    lookup: Dict[str, str] = {}
    for name in core_names:
        lookup[name.lower()] = name
    for name, folder in folder_names.items():
        lookup.setdefault(folder.lower(), name)
    depths: Dict[str, CoreDepth] = {}
    strangers: List[str] = []  # rows for cores not in this batch: a well-wide table, or typos (the first few)
    stranger_count = 0
    for number, cells in rows:  # the rows after the header
        label = header.cell(cells, "core").strip()
        name, folder = _resolve(label, lookup)
        if name is None or folder is None:
            stranger_count += 1
            if len(strangers) < _FEW:
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
        depths[name] = CoreDepth(name, header.depth(path, number, cells, "top", dialect),
                                 header.depth(path, number, cells, "bottom", dialect),
                                 _flip(path, number, header.cell(cells, "flip")), number, folder, header.units["top"])
    covered = {d.folder for d in depths.values()}
    missing = [n for n in core_names if n not in covered]
    if missing:
        raise DepthError("%s: no depth row for core%s %s%s" % (
            path, "s" if len(missing) > 1 else "", _few(missing),
            "; rows naming no core of this batch: %s" % _few(strangers, stranger_count) if strangers else ""))
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
        if '"' not in line:  # what the csv module gives such a line, without a reader per line
            return [c.strip() for c in line.split(self.delimiter)]
        return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=self.delimiter))]

    def is_number(self, text: str) -> bool:
        text = text.strip()
        return _NUMBER.fullmatch(text) is not None or (
            self.decimal_comma and _DECIMAL_COMMA_NUMBER.fullmatch(text) is not None)

    def number(self, path: Path, line: int, text: str, unit: str = "m") -> float:
        """The depth ``text`` in ``unit`` (not converted)."""
        if not self.is_number(text):
            raise DepthError("%s line %d: %r is not a depth in %s" % (path, line, text, _UNIT_TEXT[unit]))
        value = float(text.strip().replace(",", "."))
        if not math.isfinite(value):  # 1e309 reads as infinity
            raise DepthError("%s line %d: %r is not a finite depth in %s" % (path, line, text, _UNIT_TEXT[unit]))
        if not well_depth(value):
            raise DepthError("%s line %d: %s is not a depth in a well (%s)" % (path, line, text.strip(), DEPTH_RANGE))
        return value


def well_depth(value: float) -> bool:
    """``value`` (metres or feet) is a depth a well can have: within ±:data:`MAX_DEPTH`, not NaN."""
    return -MAX_DEPTH <= value <= MAX_DEPTH


_FEW = 5  # names an error shows


def _few(names: Sequence[str], count: Optional[int] = None) -> str:
    """The first :data:`_FEW` of ``names`` and how many more of ``count`` (default: all of them)."""
    count = len(names) if count is None else count
    shown = ", ".join(names[:_FEW])
    return shown + (" and %d more" % (count - _FEW) if count > _FEW else "")
