"""The depth match of a converted well: read, solve, write ``OUTPUT_DIR/depth_match/``.

Reads what ``convert`` with depths wrote — ``manifest.json``, each core's ``logs/<core>.csv``
(its ``DEPT`` column: slice centres at driller's depth) and the cores' driller's intervals from
``well_ct_log.las`` (``~Parameter`` TOPn/BOTn, the flip from ``~Other``) — and the wireline
(:mod:`.wireline`); solves (:mod:`.solver`); calibrates (:mod:`.calibration`); writes:

- ``depth_shifts.csv``: core, driller_top_m, driller_bottom_m, shift_m, log_top_m, log_bottom_m,
  correlation, confidence, status (``matched``, ``ambiguous`` or ``not matched``);
- ``depths_log.csv``: ``core,top,bottom,flip`` at log depth — the depth table ``convert
  --depths`` reads, to place everything at log depth;
- ``well_ct_log_shifted.las``: LAS 2.0 at log depth: DEPT (M), the CT curves of
  ``well_ct_log.las``, RHOB_CT (G/C3, with a calibration), the wireline curve on the same depths;
  ``~Other`` each core's shift and status;
- ``hu_density_fit.json``: the calibration and where it came from;
- ``correlation.svg``: the wireline and RHOB_CT before and after the shifts (:mod:`..report.correlation_svg`).

Every input is checked before anything is written (:class:`DepthMatchError`: one line, exit 2
for the command); each file is written atomically.  A core without a CT log is ``not matched``
(and why), kept at its neighbours' shift.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..analysis.ct_log import DEPTH, DEPTH_COLUMN, STATISTIC_CURVES, read_log_csv, statistic
from ..batch.manifest import MANIFEST_NAME, read_manifest
from ..batch.run import OutputLock, UsageError
from ..files import write_text_atomically
from ..messages import one_line, printable_line
from ..record import CoreRecord
from ..report.correlation_svg import CorrelationCore, write_correlation_svg
from ..well.ct_log import LAS_NAME, CoreLog, las_text, resample, table_schema_path, well_las
from ..well.depths import CoreDepth
from .calibration import Calibration, CalibrationError, from_relation, read_standards
from .names import DEPTHS_NAME, FIT_NAME, FOLDER, LAS_SHIFTED_NAME, PICTURE_NAME, SHIFTS_NAME, TABLE_NAME
from .solver import (DEFAULT_MAX_SHIFT_M, DEFAULT_RESPONSE_M, CoreLogInput, MatchError, MatchResult, match_cores)
from .wireline import Wireline, WirelineError, read_wireline

SHIFTS_SCHEMA = "columnName,type,unitLabel,nullValue\ncore,string,,\nstatus,string,,\n" + "".join(
    "%s,double,%s,nan\n" % (name, "m" if name.endswith("_m") else "") for name in (
        "driller_top_m", "driller_bottom_m", "shift_m", "log_top_m", "log_bottom_m", "correlation", "confidence"))
SHIFT_COLUMNS = ("core", "driller_top_m", "driller_bottom_m", "shift_m", "log_top_m", "log_bottom_m",
                 "correlation", "confidence", "status")
MEAN = statistic("CTMEAN")  # the mean CT number's column among a CT log's statistics
PSEUDO_DENSITY = "RHOB_CT"


class DepthMatchError(Exception):
    """The depth match cannot start: one line naming the file or option and what is wrong."""


@dataclass(frozen=True)
class DepthMatchOptions:
    las: Path
    curve: str
    max_shift_m: float = DEFAULT_MAX_SHIFT_M
    calibration: Optional[Path] = None  # scanned standards (CSV)
    response_m: float = DEFAULT_RESPONSE_M
    durable: bool = True


@dataclass
class CoreOutcome:
    name: str
    top_m: float
    bottom_m: float
    flip: bool
    shift_m: float = 0.0
    correlation: float = float("nan")
    confidence: float = 0.0
    status: str = "not matched"
    why: str = ""

    @property
    def log_top_m(self) -> float:
        return self.top_m + self.shift_m

    @property
    def log_bottom_m(self) -> float:
        return self.bottom_m + self.shift_m


@dataclass
class DepthMatchResult:
    folder: Path
    cores: List[CoreOutcome]
    calibration: Optional[Calibration]
    match: MatchResult
    wireline: Wireline
    files: Dict[str, Path] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)


@dataclass
class _Inputs:
    wireline: Wireline
    standards: Optional[Calibration]
    cores: List[CoreOutcome]  # every converted core with a known driller's interval
    logs: Dict[str, Tuple[np.ndarray, np.ndarray, float]]  # name → (slice depths, rows, slice spacing mm)
    well: str
    unknown: List[str]  # converted cores without a known driller's interval, and why


def depth_match(output_dir: Path, options: DepthMatchOptions) -> DepthMatchResult:
    """Read, solve and write (module docstring); :class:`DepthMatchError` before writing anything."""
    output_dir = Path(output_dir)
    inputs = _read_inputs(output_dir, options)
    solved = [c for c in inputs.cores if c.name in inputs.logs]
    try:
        match = match_cores([CoreLogInput(c.name, c.top_m, c.bottom_m, inputs.logs[c.name][0],
                                          inputs.logs[c.name][1][:, MEAN]) for c in solved],
                            inputs.wireline.depth_m, inputs.wireline.values, options.max_shift_m, options.response_m,
                            inputs.wireline.step_m)
    except MatchError as exc:
        raise DepthMatchError("%s: %s" % (options.las, exc)) from None
    for core, shift in zip(solved, match.shifts):
        core.shift_m, core.correlation, core.confidence, core.status = (shift.shift_m, shift.correlation,
                                                                        shift.confidence, shift.status)
        if shift.status == "ambiguous":
            core.why = "featureless: kept at its neighbours' shift"
    _neighbours_shift(inputs.cores)
    calibration = inputs.standards
    warnings = list(inputs.unknown)
    if calibration is None and inputs.wireline.is_density:
        calibration = from_relation(match.relation)
    elif calibration is None:
        warnings.append("%s is not a density (unit %r): no CT-number ↔ density calibration without --calibration, "
                        "no %s" % (inputs.wireline.curve, inputs.wireline.unit, PSEUDO_DENSITY))
    folder = output_dir / FOLDER
    result = DepthMatchResult(folder, inputs.cores, calibration, match, inputs.wireline, warnings=warnings)
    try:
        with OutputLock(output_dir):  # every input checked: now the files, never beside a running convert
            _write_files(result, inputs, options.durable)
    except UsageError as exc:
        raise DepthMatchError(str(exc)) from None
    return result


def _write_files(result: DepthMatchResult, inputs: "_Inputs", durable: bool) -> None:
    folder, match, calibration = result.folder, result.match, result.calibration
    folder.mkdir(exist_ok=True)
    result.files["shifts"] = _write(folder / SHIFTS_NAME, shifts_csv(inputs.cores), durable)
    _write(table_schema_path(folder / SHIFTS_NAME), SHIFTS_SCHEMA, durable)  # for Slicer's table node
    result.files["depths"] = _write(folder / DEPTHS_NAME, depths_csv(inputs.cores), durable)
    result.files["fit"] = _write(folder / FIT_NAME, json.dumps(_fit_json(calibration, match, inputs.wireline),
                                                               indent=2) + "\n", durable)
    result.files["las"] = _write(folder / LAS_SHIFTED_NAME, shifted_las(inputs, calibration), durable)
    wire = inputs.wireline
    pictured = _picture_cores(inputs, match)
    pseudo = _pseudo_label(wire, calibration)
    result.files["table"] = _write(folder / TABLE_NAME, correlation_csv(pictured, wire, pseudo), durable)
    _write(table_schema_path(folder / TABLE_NAME), correlation_schema(wire, pseudo), durable)
    result.files["picture"] = write_correlation_svg(
        folder / PICTURE_NAME, pictured, wire.depth_m, wire.values,
        "%s (%s)" % (wire.curve, wire.unit) if wire.unit else wire.curve, pseudo, durable)


def _write(path: Path, text: str, durable: bool) -> Path:
    write_text_atomically(path, text, durable=durable)
    return path


# ---------------------------------------------------------------------------------------------
# Reading


def _read_inputs(output_dir: Path, options: DepthMatchOptions) -> _Inputs:
    if not output_dir.is_dir():
        raise DepthMatchError("%s: no such folder (the OUTPUT_DIR of a convert with --depths)" % output_dir)
    records = read_manifest(output_dir)
    if not records:
        raise DepthMatchError("%s: no %s (run convert with --depths into it first)" % (output_dir, MANIFEST_NAME))
    if not (options.max_shift_m > 0 and math.isfinite(options.max_shift_m)):
        raise DepthMatchError("--max-shift must be a positive number of metres (got %g)" % options.max_shift_m)
    try:
        wireline = read_wireline(options.las, options.curve)
        standards = read_standards(options.calibration) if options.calibration is not None else None
    except (WirelineError, CalibrationError) as exc:
        raise DepthMatchError(str(exc)) from None
    intervals, well = driller_intervals(output_dir, records)
    cores: List[CoreOutcome] = []
    logs: Dict[str, Tuple[np.ndarray, np.ndarray, float]] = {}
    unknown: List[str] = []
    for record in records:
        if record.status not in ("converted", "skipped"):
            continue
        interval = intervals.get(record.name)
        if interval is None:
            unknown.append("%s: not matched, no driller's depth (the convert had no depth row for it)" % record.name)
            continue
        core = CoreOutcome(record.name, *interval)
        cores.append(core)
        if not record.ct_log:
            core.why = "no CT log (converted with --no-ct-log, as .nhdr or by Slicer's DICOM route)"
            continue
        try:
            first, depth, _, rows = read_log_csv(output_dir / record.ct_log)
        except (OSError, ValueError) as exc:
            core.why = "CT log unreadable (%s)" % one_line(exc)
            continue
        if first != DEPTH_COLUMN:
            core.why = "CT log has no depth column (%s)" % first
            continue
        logs[record.name] = (depth, rows, float(record.spacing[2]) if record.spacing else 1.0)
    if not logs:
        raise DepthMatchError("%s: no core has a CT log at depth (run convert with --depths, without --no-ct-log)"
                              % output_dir)
    cores.sort(key=lambda c: c.top_m)
    _check_overlap(wireline, cores, options)
    return _Inputs(wireline, standards, cores, logs, well, unknown)


def driller_intervals(output_dir: Path,
                      records: Sequence[CoreRecord]) -> Tuple[Dict[str, Tuple[float, float, bool]], str]:
    """Core name → (top, bottom, flip) at driller's depth as the convert placed them — the records'
    own (``top_m``, ``bottom_m``, ``flip``) — and the well's name, from ``well_ct_log.las``; a
    manifest written before the records held depths: the LAS's TOPn/BOTn (described by the core's
    name) and the flips in its ``~Other``."""
    path = Path(output_dir) / LAS_NAME
    if not path.is_file():
        raise DepthMatchError("%s: no %s: run convert with --depths (and its CT log) into it first" % (
            output_dir, LAS_NAME))
    try:
        import lasio
        las = lasio.read(str(path))
    except ImportError:
        raise DepthMatchError("depth-match needs lasio (pip install lasio)") from None
    except Exception as exc:
        raise DepthMatchError("%s: unreadable (%s)" % (path, one_line(exc))) from None
    well = str(las.well["WELL"].value) if "WELL" in las.well else ""
    placed = {r.name: (float(r.top_m), float(r.bottom_m), bool(r.flip)) for r in records
              if r.top_m is not None and r.bottom_m is not None}
    if placed:
        return placed, well
    tops: Dict[int, Tuple[str, float]] = {}
    bottoms: Dict[int, float] = {}
    for item in las.params:
        found = re.fullmatch(r"(TOP|BOT)(\d+)", item.mnemonic)
        if not found:
            continue
        number = int(found.group(2))
        if found.group(1) == "TOP":
            tops[number] = (re.sub(r" top$", "", item.descr), float(item.value))
        else:
            bottoms[number] = float(item.value)
    flipped = {line.rsplit(" ", 3)[0] for line in str(las.other).splitlines() if line.endswith(" flipped")}
    return {name: (top, bottoms[n], name in flipped) for n, (name, top) in tops.items() if n in bottoms}, well


def _check_overlap(wireline: Wireline, cores: Sequence[CoreOutcome], options: DepthMatchOptions) -> None:
    shallow, deep = wireline.valid_interval()
    top, bottom = min(c.top_m for c in cores), max(c.bottom_m for c in cores)
    if deep < top - options.max_shift_m or shallow > bottom + options.max_shift_m:
        raise DepthMatchError("%s: curve %s covers %.2f–%.2f m, which does not overlap the cored interval "
                              "%.2f–%.2f m (±%g m of --max-shift)" % (options.las, wireline.curve, shallow, deep,
                                                                       top, bottom, options.max_shift_m))


def _neighbours_shift(cores: Sequence[CoreOutcome]) -> None:
    """Cores without a CT log take the shift interpolated between the solved cores around them,
    kept clear of their neighbours at log depth where the gap allows."""
    solved = [c for c in cores if c.status != "not matched"]
    if not solved:
        return
    tops = np.array([c.top_m for c in solved])
    shifts = np.array([c.shift_m for c in solved])
    for n, core in enumerate(cores):
        if core.status != "not matched":
            continue
        shift = float(np.interp(core.top_m, tops, shifts))
        low = cores[n - 1].log_bottom_m - core.top_m if n > 0 else -math.inf
        high = cores[n + 1].log_top_m - core.bottom_m if n + 1 < len(cores) else math.inf
        core.shift_m = round(min(max(shift, low), high) if low <= high else shift, 4)
        core.why = core.why or "no CT log"


# ---------------------------------------------------------------------------------------------
# Writing


def shifts_csv(cores: Sequence[CoreOutcome]) -> str:
    lines = [",".join(SHIFT_COLUMNS)]
    for c in cores:
        lines.append("%s,%.4f,%.4f,%.4f,%.4f,%.4f,%s,%.3f,%s" % (
            _cell(c.name), c.top_m, c.bottom_m, c.shift_m, c.log_top_m, c.log_bottom_m,
            "" if not math.isfinite(c.correlation) else "%.3f" % c.correlation, c.confidence, c.status))
    return "\n".join(lines) + "\n"


def shift_rows(cores: Sequence[CoreOutcome]) -> List[Dict[str, object]]:
    """The shifts as plain rows (the columns of depth_shifts.csv, and ``why``): the console's answer."""
    return [dict(core=c.name, driller_top_m=c.top_m, driller_bottom_m=c.bottom_m, shift_m=c.shift_m,
                 log_top_m=round(c.log_top_m, 4), log_bottom_m=round(c.log_bottom_m, 4), correlation=c.correlation,
                 confidence=c.confidence, status=c.status, why=c.why) for c in cores]


def depths_csv(cores: Sequence[CoreOutcome]) -> str:
    """The convert's own depth table (``core,top,bottom,flip``) at log depth."""
    lines = ["core,top,bottom,flip"] + ["%s,%.4f,%.4f,%s" % (_cell(c.name), c.log_top_m, c.log_bottom_m,
                                                              "yes" if c.flip else "no") for c in cores]
    return "\n".join(lines) + "\n"


def correlation_columns(wire: Wireline, pseudo: str) -> Tuple[str, str, str, str]:
    """The correlation table's columns: depth, the wireline, the pseudo-log after and before the
    shifts (named as the LAS curves, the unit in brackets)."""
    unit = "[%s]" % wire.unit if wire.unit else ""
    name = PSEUDO_DENSITY if pseudo == PSEUDO_DENSITY else "CT_SCALED"
    return "DEPT[M]", wire.curve + unit, name + unit, name + "_DRILLER" + unit


def correlation_csv(cores: Sequence[CorrelationCore], wire: Wireline, pseudo: str) -> str:
    """The correlation picture's curves on the wireline's depths over the cored interval (±1 m):
    the wireline, and where a core lies, its smoothed pseudo-log at log depth and at driller's
    depth (empty elsewhere) — for Slicer's plot view."""
    top = min(min(c.top_m, c.top_m + c.shift_m) for c in cores) - 1.0
    bottom = max(max(c.bottom_m, c.bottom_m + c.shift_m) for c in cores) + 1.0
    inside = (wire.depth_m >= top) & (wire.depth_m <= bottom)
    depth = wire.depth_m[inside]
    after, before = np.full(len(depth), np.nan), np.full(len(depth), np.nan)
    for core in cores:
        good = np.isfinite(core.values)
        if good.sum() < 2:
            continue
        for values, shift in ((after, core.shift_m), (before, 0.0)):
            within = (depth >= core.top_m + shift) & (depth <= core.bottom_m + shift)
            values[within] = np.interp(depth[within], core.depth_m[good] + shift, core.values[good])
    lines = [",".join(correlation_columns(wire, pseudo))]
    for row in zip(depth, wire.values[inside], after, before):
        lines.append(",".join("" if not math.isfinite(v) else "%.4f" % v for v in row))
    return "\n".join(lines) + "\n"


def correlation_schema(wire: Wireline, pseudo: str) -> str:
    units = ("m", wire.unit.lower(), wire.unit.lower(), wire.unit.lower())
    return "columnName,type,unitLabel,nullValue\n" + "".join(
        "%s,double,%s,nan\n" % (name, unit) for name, unit in zip(correlation_columns(wire, pseudo), units))


def _cell(text: str) -> str:
    return '"%s"' % text.replace('"', '""') if any(ch in text for ch in ',"\n') else text


def _fit_json(calibration: Optional[Calibration], match: MatchResult, wireline: Wireline) -> dict:
    relation = {"curve": wireline.curve, "unit": wireline.unit, "alpha_per_hu": match.relation.alpha,
                "beta": match.relation.beta, "residual_sd": match.relation.residual_sd,
                "samples": match.relation.samples,
                "meaning": "%s = alpha_per_hu * CT number + beta over the matched cores" % wireline.curve}
    if calibration is None:
        return {"source": "none", "hu_per_unit": None, "hu_at_zero": None, "hu_per_unit_sd": None,
                "hu_at_zero_sd": None, "note": "no density curve and no --calibration", "curve_relation": relation}
    return calibration.to_json({"curve_relation": relation})


def shifted_las(inputs: "_Inputs", calibration: Optional[Calibration]) -> str:
    """``well_ct_log_shifted.las`` (module docstring): the well's LAS (:func:`..well.ct_log.well_las`)
    of the cores at log depth, with RHOB_CT, the wireline curve and the shifts in ``~Other``."""
    placed = []
    outcomes = {c.name: c for c in inputs.cores}
    for name, (depth, rows, spacing_mm) in inputs.logs.items():
        core = outcomes[name]
        log_depth = CoreDepth(name, core.log_top_m, core.log_bottom_m, core.flip)
        placed.append(CoreLog(name, log_depth, depth + core.shift_m, rows, spacing_mm))
    log = resample(sorted(placed, key=lambda c: c.depth.top_m), inputs.well)
    las = well_las(log)
    las.well["SRVC"].value = "CoreBatchLoader (core CT log at log depth)"
    las.curves[DEPTH.mnemonic].descr = "log depth (driller's depth + the core's shift)"
    if calibration is not None:
        las.append_curve(PSEUDO_DENSITY, calibration.density(log.curves[STATISTIC_CURVES[MEAN].mnemonic]),
                         unit="G/C3", descr="bulk density from the mean CT number (%s calibration)" % calibration.source)
    wire = inputs.wireline
    las.append_curve(wire.curve, _resampled(wire.depth_m, wire.values, log.depth_m), unit=wire.unit,
                     descr="wireline %s (%s) on these depths" % (wire.curve, wire.path.name))
    rows_note = str(las.other).splitlines()[0]
    notes = [rows_note, "Cores at log depth (shift = log depth - driller's depth, m):"] + [
        "%s shift %+.4f driller %.4f-%.4f log %.4f-%.4f %s confidence %.3f%s" % (
            c.name, c.shift_m, c.top_m, c.bottom_m, c.log_top_m, c.log_bottom_m, c.status, c.confidence,
            " (%s)" % c.why if c.why else "") for c in inputs.cores] + inputs.unknown
    las.other = "\n".join(printable_line(line) for line in notes)
    return las_text(las, log)


def _resampled(depth: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear between the wireline's samples; NULL (NaN) where either neighbour is or outside."""
    result = np.interp(at, depth, np.nan_to_num(values), left=np.nan, right=np.nan)
    after = np.clip(np.searchsorted(depth, at), 1, len(depth) - 1)
    gap = ~(np.isfinite(values[after]) & np.isfinite(values[after - 1]))
    result[gap] = np.nan
    return result


def _pseudo_label(wireline: Wireline, calibration: Optional[Calibration]) -> str:
    return PSEUDO_DENSITY if calibration is not None else "CT (scaled to %s)" % wireline.curve


def _picture_cores(inputs: _Inputs, match: MatchResult) -> List[CorrelationCore]:
    """Each solved core's smoothed log in the wireline's units (RHOB_CT with a density), at its
    driller's top and shift, for the correlation picture."""
    alpha, beta = match.relation.alpha, match.relation.beta
    solved = [c for c in inputs.cores if c.name in inputs.logs]
    pictures = []
    for core, smoothed in zip(solved, match.smoothed):
        values = alpha * smoothed.hu + beta
        pictures.append(CorrelationCore(core.name, core.top_m, core.bottom_m, core.shift_m,
                                        core.top_m + smoothed.offset_m, values, core.status))
    return pictures
