"""The CT log of one core: CT-number statistics of the rock in every slice, and the core's axis.

Per output slice, inside the core's eroded cross-section (:mod:`.core_section`), over 2,048 of
its voxels (all of them in a smaller section) evenly spaced along 16 rows spread across it —
the voxels the section's carry check gathered anyway (:mod:`.slices`), so the log adds no
gather of its own; a slice's numbers must cost a few percent of converting it, and 2,048
voxels give the standard deviation to ±1.6 % of Gaussian noise:

- ``CTMEAN``, ``CTSTD``; ``CTMED``, ``CTP10``, ``CTP90`` from every fourth of those voxels
  (≤ 512: ~0.08 σ of Gaussian noise);
- ``VOIDFR``: the share below the void threshold (−500 HU by default: air in pores, fractures
  and between rubble pieces);
- ``DIAM``: the equivalent diameter of the filled cross-section; ``CENTI``, ``CENTJ``: its
  centre (i = column, j = row) — in the slices where the section was measured (every 10 mm of
  core and wherever it changes; empty where it was carried over, see :mod:`.slices`);
- ``MASKFR``: the share of the voxels at a padding value (PixelPaddingValue) or at the value a
  viewer masked the scan with (:mod:`.surroundings`) — masked rods inside the core: counted
  apart, left out of every other statistic (not void).  0 where nothing is masked.

Every file that holds the log — this core's CSV, the well's LAS and CSV, the scene's table —
names its columns from one table, :data:`CURVES`: the LAS 2.0 mnemonic and unit, written
``CTMEAN[HU]`` as a CSV header (docs/outputs.md shows the table).

A slice without core (a gap, a foam spacer, an end cap, nothing) has empty cells.  At the end
a straight line is fitted through the centres (in LPS, outliers such as rubble slices left out,
and the partial sections of an end or a cap — smaller than the core's full section, measured
before the slices: :attr:`.slices.SliceAnalyses.core_radius_mm` — whose centres lie off its axis)
and its tilt against the scan axis goes into the record (``axis_tilt_deg``, ``axis_point_lps``,
``axis_direction_lps``), and ``logs/<core>.csv`` is written: first column ``DIST[MM]``, the
slice centre's distance from the core's top (slice k = 0; the well's step replaces it by
``DEPT[M]`` once the core's depth and flip are known), then ``K`` and the statistics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..files import write_text_atomically
from .core_section import FULL_SHARE, CoreSection, in_ranges, voxel_threshold
from .slices import AnalysisContext
from .surroundings import Surroundings

LOGS_DIR = "logs"
DEFAULT_VOID_THRESHOLD_HU = -500.0
BLOCK_SLICES = 32  # slices whose statistics are computed together (memory: 32 × 2,048 voxels)


@dataclass(frozen=True)
class Curve:
    """One column of the CT log, named the same in every file that holds it: its LAS 2.0
    mnemonic and unit, and a description (the LAS ``~Curve`` line, the docs' table)."""

    mnemonic: str
    unit: str  # as LAS writes it; "" for a count
    description: str
    in_well: bool = True  # in the well's LAS and table (the in-plane centre is the core's own)
    decimals: int = 2  # in the core's CSV

    @property
    def column(self) -> str:
        """Its CSV header: the mnemonic with the unit in brackets (``CTMEAN[HU]``), as log
        software writes a LAS file's curves out as columns; a count has none (``K``)."""
        return "%s[%s]" % (self.mnemonic, self.unit) if self.unit else self.mnemonic


DEPTH = Curve("DEPT", "M", "depth along the hole, as the depth table gives it", decimals=6)
DISTANCE = Curve("DIST", "MM", "distance of the slice centre from the core's top edge (before the depth is known)",
                 in_well=False, decimals=4)
SLICE = Curve("K", "", "slice index in the core's volume (k)", in_well=False, decimals=0)
STATISTIC_CURVES = (  # the rows' columns, in this order (CtLog.rows)
    Curve("CTMEAN", "HU", "CT number, mean over the core's cross-section"),
    Curve("CTMED", "HU", "CT number, median"),
    Curve("CTSTD", "HU", "CT number, standard deviation"),
    Curve("CTP10", "HU", "CT number, 10th percentile"),
    Curve("CTP90", "HU", "CT number, 90th percentile"),
    Curve("VOIDFR", "V/V", "share of the cross-section below the void threshold", decimals=4),
    Curve("DIAM", "MM", "equivalent diameter of the core's cross-section"),
    Curve("CENTI", "PX", "centre of the cross-section, column i (where it was measured)", in_well=False),
    Curve("CENTJ", "PX", "centre of the cross-section, row j (where it was measured)", in_well=False),
    Curve("MASKFR", "V/V", "share of the cross-section at a padding or mask value (masked rods): left out of "
          "the other statistics", in_well=False, decimals=4),
)
CURVES = (DEPTH, DISTANCE, SLICE) + STATISTIC_CURVES
"""Every column of the CT log's files (logs/<core>.csv; the well's LAS, CSV and scene table
take DEPT and the statistics with ``in_well``): the one naming table."""
STATISTICS = tuple(c.column for c in STATISTIC_CURVES)  # the rows' column headers
DIAMETER = [c.mnemonic for c in STATISTIC_CURVES].index("DIAM")  # the rows' column of the section's diameter
MASKED_COLUMN = len(STATISTIC_CURVES) - 1  # MASKFR
DISTANCE_COLUMN = DISTANCE.column
DEPTH_COLUMN = DEPTH.column
# The headers logs/<core>.csv had before the one naming table: still read, rewritten by the well's step
_EARLIER_HEADER = ("k", "ct_mean_hu", "ct_median_hu", "ct_std_hu", "ct_p10_hu", "ct_p90_hu", "void_fraction",
                   "diameter_mm", "centre_i_px", "centre_j_px")


def statistic(mnemonic: str) -> int:
    """The index of the curve ``mnemonic`` (``CTMEAN``…) among the rows' columns."""
    return next(n for n, curve in enumerate(STATISTIC_CURVES) if curve.mnemonic == mnemonic)


def log_file_name(core_name: str) -> str:
    """The core's log, relative to the output folder."""
    return "%s/%s.csv" % (LOGS_DIR, core_name)


class CtLog:
    """A :class:`~.slices.SliceAnalysis`: one row of statistics per slice (module docstring)."""

    name = "CT log"

    wants_samples = True  # add_slice gets the section's voxels the carry check gathered (.slices)

    def __init__(self, slices: int, void_threshold_hu: float = DEFAULT_VOID_THRESHOLD_HU) -> None:
        self.void_threshold_hu = float(void_threshold_hu)
        self.rows = np.full((int(slices), len(STATISTICS)), np.nan)
        self._section: Optional[CoreSection] = None  # the section of the slice before
        self._block: Optional[np.ndarray] = None  # (BLOCK_SLICES, samples): voxels of the slices _ks
        self._ks: List[int] = []
        self.excluded: Tuple[Tuple[float, float], ...] = ()  # padding and mask: no data (set_surroundings)
        self.core_radius_mm: Optional[float] = None  # the full section's (set_core_radius): the axis' centres

    def set_core_radius(self, radius_mm: Optional[float]) -> None:
        """The core's radius on its full sections (:meth:`.slices.SliceAnalyses.decide`; None:
        unknown): the axis is fitted through full sections' centres only (the module docstring)."""
        self.core_radius_mm = radius_mm

    def set_surroundings(self, surroundings: Surroundings) -> None:
        """What the core's surroundings say is no data (padding, a mask): left out of the statistics."""
        self.excluded = surroundings.excluded

    def add_slice(self, k: int, values: Optional[np.ndarray], section: Optional[CoreSection],
                  samples: Optional[np.ndarray] = None) -> None:
        """Keeps the slice's samples (``section.samples(values)``, or as the carry check gathered
        them); the statistics are computed for blocks of slices at once (:meth:`_flush`), so
        numpy's per-call cost is paid once per block, not per slice."""
        if values is None or section is None:
            return
        if samples is None:
            samples = section.samples(values)
        if section is not self._section:  # found in this slice (not carried over): its centre
            self._section = section
            self.rows[k, 7:9] = section.centre_ij
        block = self._block
        if block is None or block.shape[1] != samples.size or block.dtype != samples.dtype:
            self._flush()  # a section of fewer voxels than STATISTICS_SAMPLES, or another voxel type
            block = self._block = np.empty((BLOCK_SLICES, samples.size), dtype=samples.dtype)
        elif len(self._ks) == BLOCK_SLICES:
            self._flush()
        block[len(self._ks)] = samples
        self._ks.append(k)
        self.rows[k, 6] = section.diameter_mm

    def _flush(self) -> None:
        """The statistics of the gathered slices, one numpy call per statistic for all of them."""
        count = len(self._ks)
        if not count or self._block is None:
            return
        voxels = self._block[:count]
        masked = in_ranges(voxels, self.excluded)
        if masked is not None and masked.any():
            self._flush_masked(voxels, masked)
            return
        size = voxels.shape[1]
        total = np.int64 if voxels.dtype.kind in "iu" else np.float64  # exact sums for CT numbers…
        mean = voxels.sum(axis=1, dtype=total) / size  # …in numpy's buffered loops: no copy of the block
        squares = np.einsum("ij,ij->i", voxels, voxels, dtype=total) / size
        void = (voxels < voxel_threshold(self.void_threshold_hu, voxels.dtype, below=True)).sum(axis=1) / size
        # every fourth voxel (≤ 512 a slice: percentiles of Gaussian noise to ~0.08 σ), sorted:
        # numpy's vectorised sort of short 16-bit rows beats np.partition with three ranks
        spread = np.sort(voxels[:, ::4], axis=1)
        ranks = [int(round(q * (spread.shape[1] - 1))) for q in (0.5, 0.1, 0.9)]
        order = spread[:, ranks]
        self.rows[self._ks, :6] = np.column_stack([
            mean, order[:, 0], np.sqrt(np.maximum(squares - mean * mean, 0.0)), order[:, 1], order[:, 2], void])
        self.rows[self._ks, MASKED_COLUMN] = 0.0
        self._ks = []

    def _flush_masked(self, voxels: np.ndarray, masked: np.ndarray) -> None:
        """:meth:`_flush` for a block holding padding or mask values: the statistics of the other
        voxels of each slice, the masked share apart (rare: the slow way, a few calls more)."""
        valid = ~masked
        counts = valid.sum(axis=1)
        size = voxels.shape[1]
        kept = np.where(valid, voxels, 0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = kept.sum(axis=1) / counts
            squares = (kept * kept).sum(axis=1) / counts
            below = voxels < voxel_threshold(self.void_threshold_hu, voxels.dtype, below=True)
            void = (below & valid).sum(axis=1) / counts
        quarter = np.where(valid[:, ::4], voxels[:, ::4].astype(np.float64), np.inf)
        spread = np.sort(quarter, axis=1)
        present = np.maximum(valid[:, ::4].sum(axis=1), 1)
        order = np.column_stack([spread[np.arange(len(spread)), np.round(q * (present - 1)).astype(int)]
                                 for q in (0.5, 0.1, 0.9)])
        order[valid[:, ::4].sum(axis=1) == 0] = np.nan
        rows = np.column_stack([mean, order[:, 0], np.sqrt(np.maximum(squares - mean * mean, 0.0)), order[:, 1],
                                order[:, 2], void])
        self.rows[self._ks, :6] = rows
        self.rows[self._ks, MASKED_COLUMN] = 1.0 - counts / size
        self._ks = []

    def finish(self, context: AnalysisContext) -> None:
        self._flush()
        record = context.record
        if np.isnan(self.rows[:, 0]).all():
            record.warnings.append("CT log: no core cross-section found in any slice; its rows are empty")
        found = ~np.isnan(self.rows[:, 7])  # the slices where a section was measured
        if self.core_radius_mm is not None:  # …and whole: an end's partial sections lie off the axis
            full = found & (self.rows[:, DIAMETER] >= 2.0 * FULL_SHARE * self.core_radius_mm)
            found = full if np.count_nonzero(full) >= 3 else found
        axis = fit_axis(self.rows[found, 7:9], np.nonzero(found)[0], context.geometry.ijk_to_lps)
        if axis is not None:
            point, direction, tilt = axis
            record.axis_point_lps = [round(float(v), 4) for v in point]
            record.axis_direction_lps = [round(float(v), 6) for v in direction]
            record.axis_tilt_deg = round(float(tilt), 3)
        spacing_k = float(context.geometry.spacing[2])
        distance = (np.arange(len(self.rows)) + 0.5) * spacing_k
        path = Path(context.output_dir) / log_file_name(context.core_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, log_csv_text(DISTANCE_COLUMN, distance, self.rows), durable=context.durable)
        record.ct_log = log_file_name(context.core_name)


def fit_axis(centres_ij: np.ndarray, ks: np.ndarray, ijk_to_lps: np.ndarray,
             rounds: int = 3) -> Optional[Tuple[np.ndarray, np.ndarray, float]]:
    """(point, unit direction, tilt in degrees against the scan's k axis) of the straight line
    through the section centres, in LPS mm; None with fewer than 3 centres.

    Least squares (the principal direction of the centred points), refitted without the centres
    farther from the line than 3 × their median distance and 2 mm (rubble, a crumbled end):
    those lie off the core's axis and would tilt it.
    """
    if len(ks) < 3:
        return None
    ijk = np.column_stack([centres_ij[:, 0], centres_ij[:, 1], ks.astype(float), np.ones(len(ks))])
    points = (ijk_to_lps @ ijk.T)[:3].T
    k_axis = ijk_to_lps[:3, 2] / np.linalg.norm(ijk_to_lps[:3, 2])
    keep = np.ones(len(points), dtype=bool)
    point, direction = points.mean(axis=0), k_axis
    for _ in range(rounds):
        if keep.sum() < 3:
            break
        point = points[keep].mean(axis=0)
        _, _, vt = np.linalg.svd(points[keep] - point, full_matrices=False)
        direction = vt[0] if vt[0] @ k_axis >= 0 else -vt[0]
        offsets = points - point
        distances = np.linalg.norm(offsets - np.outer(offsets @ direction, direction), axis=1)
        limit = max(3.0 * float(np.median(distances[keep])), 2.0)
        still = distances <= limit
        if (still == keep).all():
            break
        keep = still
    tilt = math.degrees(math.acos(min(1.0, abs(float(direction @ k_axis)))))
    return point, direction, tilt


def log_csv_text(first_column: str, first_values: Sequence[float], rows: np.ndarray) -> str:
    """The CSV text of a log: a header line, one row per slice, empty cells where no core was.
    (One format string per row and NaN's text removed after: a per-cell test cost ~4 µs a row.)"""
    first = DEPTH if first_column == DEPTH_COLUMN else DISTANCE
    row_format = ",".join("%%.%df" % c.decimals if c.decimals else "%d" for c in (first, SLICE) + STATISTIC_CURVES)
    body = "\n".join(row_format % ((float(value), k) + tuple(row))
                     for k, (value, row) in enumerate(zip(first_values, np.asarray(rows).tolist())))
    return ",".join([first.column, SLICE.column] + list(STATISTICS)) + "\n" + body.replace("nan", "") + "\n"


def read_log_csv(path: Path) -> Tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(first column's name, its values, k, rows of STATISTICS with NaN for empty cells).  A log
    written before the naming table (``depth_m,k,ct_mean_hu…``) reads too; its first column's name
    is then the earlier one, which is no :data:`DEPTH_COLUMN`: the well's step rewrites it."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    before_masks = [SLICE.column] + list(STATISTICS[:MASKED_COLUMN])  # written before MASKFR
    if header[1:] not in ([SLICE.column] + list(STATISTICS), before_masks, list(_EARLIER_HEADER)):
        raise ValueError("%s: not a CT log (header %s)" % (path, lines[0]))
    table = np.array([[float(c) if c else np.nan for c in line.split(",")] for line in lines[1:] if line],
                     dtype=np.float64).reshape(-1, len(header))
    first = DISTANCE_COLUMN if header[0] == "distance_mm" else header[0]
    rows = table[:, 2:]
    if rows.shape[1] < len(STATISTICS):  # a log from before MASKFR: its share unknown
        rows = np.column_stack([rows, np.full((len(rows), len(STATISTICS) - rows.shape[1]), np.nan)])
    return first, table[:, 0], table[:, 1].astype(int), rows
