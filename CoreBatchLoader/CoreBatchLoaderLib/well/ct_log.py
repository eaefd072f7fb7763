"""The well's CT log: every core's log (:mod:`..analysis.ct_log`) at its depth, as LAS 2.0.

After the batch, with depths, from the ``logs/<core>.csv`` files the conversion wrote (no core
is read again):

1. each slice's depth: the slice centre of the core *placed* as in the scene
   (:func:`.placement.place_core`: the same top, the same flip), so the log and the volumes
   agree; each core's CSV is rewritten with ``DEPT[M]`` as its first column;
2. one depth column for the well, from the cored interval's top (the shallowest core's top) to
   its bottom (the deepest core's bottom, or its last slice's lower edge if the scan runs
   further): a row at the top, a row at the bottom, and between them a row every step, the
   finest slice spacing of the well, on that core's slice centres (so each of its slices has a
   row of its own).  A row between takes the slice whose centre is nearest, or NULL (−999.25) if
   none lies within half a step — between cores, in gaps, where a slice showed no core, and
   every other row of a core scanned at twice the step; the top and bottom rows take the slice
   that covers them (the first slice's upper half reaches the top);
3. ``well_ct_log.las`` (LAS 2.0, written with lasio): ``DEPT`` in M and the curves of
   :data:`..analysis.ct_log.CURVES` that belong to the well, mnemonic, unit and description
   from that table; ``~Well``: STRT and STOP the cored interval's top and bottom, STEP 0 (the
   top and bottom rows lie half a slice from their neighbours: LAS 2.0's irregular step; the
   rows' step is in ``~Other``), NULL, WELL, COMP, FLD, UWI (``--well-name``, ``--company``,
   ``--field``, ``--uwi``; one not given is empty and its description names the option), DATE (the run's date) and SRVC; each core's top and bottom in ``~Parameter``
   (``TOP1``/``BOT1``… described by the core's name) and as a table in ``~Other``;
4. ``well_ct_log.csv`` (+ ``.schema.csv``, Slicer's column types and units): the same rows and
   the same names, the unit in each header (``DEPT[M]``, ``CTMEAN[HU]``), NULL left empty, for
   the scene's table node (:mod:`..mrml.well` points a table node at it);
5. ``well_ct_log.svg``: the log track for the report (:mod:`..report.log_svg`), on the well
   strip's depth scale when there is one.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..analysis.ct_log import DEPTH, DEPTH_COLUMN, STATISTIC_CURVES, STATISTICS, log_csv_text, read_log_csv
from ..files import DISK_FULL, ForeignFile, write_text_atomically
from ..messages import one_line, printable_line
from ..record import CoreRecord
from ..report.log_svg import LogTrack, write_log_track
from .depths import CoreDepth
from .layout import WellLayout
from .options import WellIdentity
from .placement import depth_to_s, place_core
from .strip import HEADER, STRIP_HEIGHT

LAS_NAME = "well_ct_log.las"
TABLE_NAME = "well_ct_log.csv"
TRACK_NAME = "well_ct_log.svg"
NULL = -999.25
WELL_CURVES = tuple(c for c in STATISTIC_CURVES if c.in_well)  # after DEPT, in the LAS and the table
# the ~Well items the options fill (mnemonic, option, description); empty when not given
IDENTITY_ITEMS = (("COMP", "--company", "COMPANY"), ("FLD", "--field", "FIELD"), ("UWI", "--uwi", "UNIQUE WELL ID"))
LAS_MISSING = "well_ct_log.las not written: it needs lasio (pip install lasio)"


@dataclass
class CoreLog:
    """One core's log at its depth: slice-centre depths (m) and the rows of STATISTICS."""

    name: str
    depth: CoreDepth
    depth_m: np.ndarray
    rows: np.ndarray
    spacing_mm: float


@dataclass
class WellLog:
    """The well's log on one depth column (NaN = NULL): the cored interval's top and bottom and,
    between them, a row every ``step_m``."""

    well: str
    step_m: float
    depth_m: np.ndarray
    curves: Dict[str, np.ndarray]  # by mnemonic
    cores: List[CoreLog]


@dataclass
class WellLogFiles:
    """What :func:`write_well_log` wrote (paths under the output folder), and what it could not."""

    las: Optional[Path] = None
    table: Optional[Path] = None
    track: Optional[Path] = None
    warnings: List[str] = field(default_factory=list)
    not_written: List[str] = field(default_factory=list)  # someone else's file holds the name: exit 1


def slice_depths(sizes: Sequence[int], spacing: Sequence[float], depth: CoreDepth) -> np.ndarray:
    """Depth (m) of every slice centre k = 0 … n−1 of a core placed as in the scene."""
    matrix = place_core(sizes, spacing, depth.top_m, depth.flip).ijk_to_ras()
    s = matrix[2, 2] * np.arange(int(sizes[2])) + matrix[2, 3]  # S of (0, 0, k): i and j run level
    return -s / 1000.0


def core_logs(output_dir: Path, records: Sequence[CoreRecord], depths: Mapping[str, CoreDepth],
              durable: bool = True) -> Tuple[List[CoreLog], List[str]]:
    """Every converted core's log at its depth, by depth; each CSV rewritten with ``depth_m``
    when its first column is not already these depths.  Warnings name cores left out."""
    logs, warnings = [], []
    for record in records:
        depth = depths.get(record.name)
        if depth is None or record.status not in ("converted", "skipped"):
            continue
        if not record.ct_log or not record.dimensions or not record.spacing:
            warnings.append("%s has no CT log (converted with --no-ct-log, as .nhdr or by Slicer's DICOM "
                            "route): NULL in %s" % (record.name, LAS_NAME))
            continue
        path = Path(output_dir) / record.ct_log
        try:
            first, values, ks, rows = read_log_csv(path)
        except (OSError, ValueError) as exc:
            warnings.append("%s: CT log unreadable, NULL in %s (%s)" % (record.name, LAS_NAME, one_line(exc)))
            continue
        depth_m = slice_depths(record.dimensions, record.spacing, depth)
        if len(ks) != len(depth_m):
            warnings.append("%s: CT log has %d rows for %d slices, NULL in %s" % (
                record.name, len(ks), len(depth_m), LAS_NAME))
            continue
        if first != DEPTH_COLUMN or not np.allclose(values, depth_m, atol=5e-7):
            write_text_atomically(path, log_csv_text(DEPTH_COLUMN, depth_m, rows), durable=durable)
        logs.append(CoreLog(record.name, depth, depth_m, rows, float(record.spacing[2])))
    return sorted(logs, key=lambda c: (c.depth.top_m, c.name)), warnings


def resample(cores: Sequence[CoreLog], well: str) -> WellLog:
    """The well's depth column (module docstring, step 2)."""
    finest = min(cores, key=lambda c: c.spacing_mm)
    step_m = finest.spacing_mm / 1000.0
    top = min(c.depth.top_m for c in cores)
    bottom = max(max(c.depth.bottom_m, float(c.depth_m.max()) + c.spacing_mm / 2000.0) for c in cores)
    # rows on the finest core's slice centres (each of its slices gets its own row), between top and bottom
    anchor = float(finest.depth_m.min())
    first = math.floor((top - anchor) / step_m + 1e-9) + 1
    last = math.ceil((bottom - anchor) / step_m - 1e-9) - 1
    between = anchor + np.arange(first, last + 1) * step_m
    between = between[(between > top + 1e-9) & (between < bottom - 1e-9)]
    depth = np.concatenate([[top], between, [bottom]])
    taken = np.full((len(depth), len(STATISTICS)), np.nan)
    nearest = np.full(len(depth), np.inf)
    for core in cores:
        order = np.argsort(core.depth_m)
        centres = core.depth_m[order]
        after = np.clip(np.searchsorted(centres, depth), 1, len(centres) - 1) if len(centres) > 1 \
            else np.zeros(len(depth), dtype=int)
        before = np.maximum(after - 1, 0)
        closer = np.abs(centres[before] - depth) <= np.abs(centres[after] - depth)
        pick = np.where(closer, before, after)
        distance = np.abs(centres[pick] - depth)
        reach = np.full(len(depth), step_m / 2.0)
        reach[[0, -1]] = core.spacing_mm / 2000.0  # the top and bottom rows: the slice covering them
        better = (distance <= reach + 1e-9) & (distance < nearest)
        nearest[better] = distance[better]
        taken[better] = core.rows[order[pick[better]]]
    curves = {curve.mnemonic: taken[:, STATISTIC_CURVES.index(curve)] for curve in WELL_CURVES}
    return WellLog(well, step_m, depth, curves, list(cores))


def write_las(path: Path, log: WellLog, durable: bool = True, unplaced: Sequence[str] = (),
              identity: Optional[WellIdentity] = None) -> Path:
    """``well_ct_log.las`` (module docstring, step 3); ImportError without lasio.  ``unplaced``:
    the converted cores absent from the log (no depth, no CT log), each with why, listed in
    ``~Other``: a core missing from the log must say so in the file that lacks it.
    ``identity``: the company, field and UWI (the well's name: ``log.well``)."""
    write_text_atomically(path, las_text(well_las(log, unplaced, identity), log), durable=durable)
    return path


def well_las(log: WellLog, unplaced: Sequence[str] = (), identity: Optional[WellIdentity] = None) -> Any:
    """The well's log as a ``lasio.LASFile`` (:func:`write_las`; the depth match adds its curves
    and notes to the same file at log depth)."""
    import lasio

    identity = identity or WellIdentity(log.well)
    las = lasio.LASFile()
    las.well["WELL"].value = log.well
    for mnemonic, option, description in IDENTITY_ITEMS:
        value = getattr(identity, option.lstrip("-"))
        las.well[mnemonic].value = value
        # no colon in a description: LAS 2.0 ends the value at a line's last colon
        las.well[mnemonic].descr = description if value else "%s (not given, see %s)" % (description, option)
    las.well["DATE"].value = time.strftime("%Y-%m-%d")
    las.well["DATE"].descr = "DATE (of this run)"
    las.well["NULL"].value = NULL
    las.well["SRVC"].value = "CoreBatchLoader (core CT log)"
    las.append_curve(DEPTH.mnemonic, log.depth_m, unit=DEPTH.unit, descr=DEPTH.description)
    for curve in WELL_CURVES:
        las.append_curve(curve.mnemonic, log.curves[curve.mnemonic], unit=curve.unit, descr=curve.description)
    for n, core in enumerate(log.cores, 1):
        las.params.append(lasio.HeaderItem("TOP%d" % n, unit="M", value=core.depth.top_m, descr="%s top" % core.name))
        las.params.append(lasio.HeaderItem("BOT%d" % n, unit="M", value=core.depth.bottom_m,
                                           descr="%s bottom" % core.name))
    las.other = "\n".join(_las_line(line) for line in [
        "Rows: the cored interval's top (STRT) and bottom (STOP), and between them every %g m on the slice "
        "centres of the finest core (STEP 0, LAS 2.0's irregular step)." % log.step_m,
        "Cores (top and bottom in m; flipped: scanned bottom to top):"] + [
        "%s %.4f %.4f%s" % (c.name, c.depth.top_m, c.depth.bottom_m, " flipped" if c.depth.flip else "")
        for c in log.cores] + (["Converted cores not in this log:"] + list(unplaced) if unplaced else []))
    return las


def las_text(las: Any, log: WellLog) -> str:
    """The LAS 2.0 text of ``las`` holding ``log``'s rows (STEP 0: the irregular column)."""
    import io

    text = io.StringIO()
    digits = max(4, int(math.ceil(-math.log10(log.step_m))) + 2)  # two decimals past the step's
    las.write(text, version=2.0, wrap=False, STRT=round(float(log.depth_m[0]), digits),
              STOP=round(float(log.depth_m[-1]), digits), STEP=0, fmt="%.4f", column_fmt={0: "%%.%df" % digits})
    return text.getvalue()


def _las_line(text: str) -> str:
    """``text`` as one line of a LAS section: no line break, and no ``~`` first (it starts a section)."""
    return printable_line(text).lstrip("~ ")


def write_table(path: Path, log: WellLog, durable: bool = True) -> Path:
    """``well_ct_log.csv`` and its ``.schema.csv`` (every column a double, its unit, NULL as
    NaN) for Slicer's table node; the columns named as in the LAS, the unit in the header."""
    curves = (DEPTH,) + WELL_CURVES
    columns = [log.depth_m] + [log.curves[c.mnemonic] for c in WELL_CURVES]
    lines = [",".join(c.column for c in curves)]
    for row in zip(*columns):
        lines.append(",".join("" if math.isnan(v) else "%.6g" % v if n else "%.6f" % v for n, v in enumerate(row)))
    write_text_atomically(path, "\n".join(lines) + "\n", durable=durable)
    # nullValue: what an empty cell reads as (Slicer reads 0 otherwise, and the plot would dive to 0 HU)
    schema = ["columnName,type,unitLabel,nullValue"] + ["%s,double,%s,nan" % (c.column, c.unit) for c in curves]
    write_text_atomically(table_schema_path(path), "\n".join(schema) + "\n", durable=durable)
    return path


def table_schema_path(table: Path) -> Path:
    """Where Slicer's table storage node looks for a CSV's column types."""
    return Path(table).with_name(Path(table).stem + ".schema.csv")


def _unless_foreign(result: WellLogFiles, write: Callable[[], Path]) -> Optional[Path]:
    """``write()``, or None where someone else's file holds the name: that file is left as it is
    and named in ``result.not_written`` (the batch's exit status 1), and the log's other files are
    still written — one foreign file must not cost the LAS."""
    try:
        return write()
    except ForeignFile as exc:
        result.not_written.append("well CT log: %s" % exc)
        return None


def write_well_log(output_dir: Path, records: Sequence[CoreRecord], depths: Mapping[str, CoreDepth],
                   well_name: str, durable: bool = True, layout: Optional[WellLayout] = None,
                   unplaced: Sequence[str] = (), identity: Optional[WellIdentity] = None) -> WellLogFiles:
    """Steps 1–5 of the module docstring.  With the scene's ``layout``, the log track takes the
    well strip's depth interval and rows, so the two line up; ``unplaced`` (converted cores
    without a depth, and why) goes into the LAS file's notes; ``identity``: the LAS header's
    company, field and UWI.  What fails is a warning, but a full output disk, which stops the batch
    (an OSError in :data:`..files.DISK_FULL`)."""
    output_dir = Path(output_dir)
    result = WellLogFiles()
    try:
        cores, result.warnings = core_logs(output_dir, records, depths, durable)
        if not cores:
            return result
        log = resample(cores, well_name)
        result.table = _unless_foreign(result, lambda: write_table(output_dir / TABLE_NAME, log, durable))
        if layout is not None and layout.strip_interval_s and layout.strip_rows:
            (top_s, bottom_s), (top_px, height_px, picture_px) = layout.strip_interval_s, layout.strip_rows
        else:
            top_s = max(depth_to_s(c.depth.top_m) for c in cores)
            bottom_s = min(depth_to_s(max(c.depth.bottom_m, float(c.depth_m.max()))) for c in cores)
            top_px, height_px, picture_px = HEADER, STRIP_HEIGHT, None
        track = LogTrack(top_s, bottom_s, well_name, height_px, top_px, picture_px)
        for core in cores:
            track.add_core(core.name, core.depth.top_m, core.depth.bottom_m, core.depth_m, core.rows)
        result.track = _unless_foreign(result, lambda: write_log_track(output_dir / TRACK_NAME, track, durable))
        try:
            result.las = _unless_foreign(result, lambda: write_las(output_dir / LAS_NAME, log, durable,
                                                                   list(unplaced) + result.warnings, identity))
        except ImportError:
            result.warnings.append(LAS_MISSING)
    except Exception as exc:  # the log is extra: converted cores stay converted
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            raise  # not the log's fault: the batch stops saying so; the rerun writes it
        result.warnings.append("well CT log not written: %s" % one_line(exc))
    return result
