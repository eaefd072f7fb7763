"""Where the rock is in one slice: the core's cross-section, not the air, liner, barrel or gap.

Found once per output slice while converting and shared by every analysis (:mod:`.slices`), so
it must cost far less than converting the slice (~0.3 ms for 512² int16 at copy speed).  It
works on a *sample grid* — every ``step``-th pixel in both directions, ~100 samples across
(1.3 mm for a 133 mm core at 0.26 mm pixels; coarser grids shift the centre of a core lying on
its liner by a millimetre) — with plain numpy, no labelling or distance
transforms (scipy would cost more than converting):

1. matter: samples denser than ``MATTER_HU`` (−500 HU: rock, liner, barrel, caps; not air or
   foam);
2. the outline: matter filled along rows and columns (a sample between two matter samples of
   its row or of its column) — a liner becomes its disc, the core its disc with pores and
   cracks filled, whichever way a crack runs;
3. a liner or barrel: the air enclosed by that outline (the gap between core and liner) reaches
   close to the outline all around (in at least 5 of 8 octants, over 30 % of the band inside
   the bore: air bubbles in a soft core are no gap).  Its CT number does not matter
   (aluminium overlaps rock): it is cut off geometrically, at the outermost enclosed air — the
   liner's bore; off the outline's edge, where a voxel of the liner's outer edge, partly air,
   reads as air between two of matter and would leave the liner uncut — so a core lying on the liner's low side, the gap there under a voxel, comes
   out without its liner;
4. the rock: the remaining matter eroded by one sample (crumbs and liner slivers go), filled
   along rows and columns: that is the **mask**, eroded against partial volume at the edge.  The
   **equivalent radius** comes from the area of the same outline before the erosion (one sample
   grown back inside the unfilled outline), the **centre** from its centroid;
5. not core: a section whose matter averages outside ``min_core_hu`` … ``max_core_hu`` or is
   narrower than ``min_diameter_mm`` is None — as is an empty slice.  The range is decided per
   core from what surrounds it (:mod:`.surroundings`); alone, this function keeps rock's 300 HU
   (foam spacers, plastic end caps, water are no rock).  In a liner filled with a fluid (water,
   drilling mud), matter below ``fill_floor_hu`` is that fluid: it is cut away as an air gap is.

Rubble (broken pieces with air between them) gives the filled outline of the pieces, so its
void fraction is the air between them.  A scanner table under the core would join the outline;
core scanners rarely have one in the image, medical ones do (not handled).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

import numpy as np

try:  # Python ≥ 3.8 everywhere we run; a cached mask is computed on first use only
    from functools import cached_property
except ImportError:  # pragma: no cover
    cached_property = property  # type: ignore[assignment,misc]

MATTER_HU = -500.0
MIN_CORE_HU = 300.0
MIN_DIAMETER_MM = 10.0
SAMPLES_ACROSS = 100
LINER_BAND_SHARE = 0.3  # a liner's gap fills this share of the band inside its bore, at least
STATISTICS_SAMPLES = 2048  # voxels per slice for its statistics: σ to ±1.6 %, percentiles to ~1 HU
STATISTICS_ROWS = 16  # …taken on this many rows across the section (see CoreSection.sample_index)


@dataclass(frozen=True, eq=False)
class CoreSection:
    """The rock's cross-section in one slice.

    Pixel coordinates follow the NRRD/IJK convention: ``i`` = column, ``j`` = row of the slice
    array ``values[j, i]``.  ``radius_mm`` is the *equivalent* radius (the disc of the same area
    as the filled cross-section) in millimetres; ``pixel_spacing_ij_mm`` turns it into pixels
    (:attr:`radius_ij_px`), since pixels need not be square.
    """

    centre_ij: Tuple[float, float]  # centroid of the filled section, full-resolution pixels
    radius_mm: float  # equivalent radius of the filled section (before erosion)
    pixel_spacing_ij_mm: Tuple[float, float]  # mm between columns (i), between rows (j)
    shape: Tuple[int, int]  # rows, columns of the slice
    step: int  # the sample grid: values[::step, ::step]
    sample_mask: np.ndarray = field(repr=False)  # bool, the eroded section on the sample grid
    lined: bool = False  # a liner or barrel was found and cut away

    @property
    def diameter_mm(self) -> float:
        return 2.0 * self.radius_mm

    @property
    def radius_ij_px(self) -> Tuple[float, float]:
        """The equivalent radius in pixels along i (columns) and j (rows)."""
        return self.radius_mm / self.pixel_spacing_ij_mm[0], self.radius_mm / self.pixel_spacing_ij_mm[1]

    @cached_property
    def mask(self) -> np.ndarray:
        """The eroded section at full resolution (bool, rows × columns): a pixel is in when the
        samples around it (above, below, left and right on the sample grid) all are.  Built on
        first use — the CT log itself never needs it."""
        rows, columns = self.shape
        h, w = self.sample_mask.shape
        row_low = np.minimum(np.arange(rows) // self.step, h - 1)
        row_high = np.minimum(-(-np.arange(rows) // self.step), h - 1)
        column_low = np.minimum(np.arange(columns) // self.step, w - 1)
        column_high = np.minimum(-(-np.arange(columns) // self.step), w - 1)
        mask = self.sample_mask
        return (mask[row_low][:, column_low] & mask[row_low][:, column_high]
                & mask[row_high][:, column_low] & mask[row_high][:, column_high])

    @cached_property
    def sample_index(self) -> np.ndarray:
        """Flat indices (into ``values.reshape(-1)``) of ``STATISTICS_SAMPLES`` voxels of the
        eroded section (all of them when it has fewer), on ``STATISTICS_ROWS`` rows evenly
        spread across it, evenly spaced along the rows' runs between their first and last
        sample in the mask.  A fixed count, so the CT log stacks the samples of many slices,
        carried or found, into one block.

        Rows, not scattered voxels: a slice just converted is mostly out of the CPU caches by the
        time it is measured, and a gather costs a cache miss per line it touches — 2,000
        scattered voxels ~50 µs, the same number on a few rows a fifth of that.  Computed
        once per section found, with array calls only (no loop over the rows).
        """
        step, width = self.step, self.shape[1]
        rows = np.nonzero(self.sample_mask.any(axis=1))[0]
        rows = np.unique(rows[np.linspace(0, len(rows) - 1, min(STATISTICS_ROWS, len(rows))).round().astype(int)])
        band = self.sample_mask[rows]
        first = band.argmax(axis=1) * step
        lengths = (band.shape[1] - 1 - band[:, ::-1].argmax(axis=1)) * step - first + 1
        ends = np.cumsum(lengths)
        total = int(ends[-1])
        count = min(total, STATISTICS_SAMPLES)
        along = np.arange(count, dtype=np.int64) * total // count  # distinct, evenly spaced
        run = np.searchsorted(ends, along, side="right")
        return (rows[run] * step * width + first[run] + along - (ends[run] - lengths[run])).astype(np.intp)

    def samples(self, values: np.ndarray) -> np.ndarray:
        """The section's voxels of ``values`` (a slice of the same size) at :attr:`sample_index`:
        one gather, so a slice's statistics cost microseconds."""
        return values.reshape(-1).take(self.sample_index)


def voxel_threshold(hu: float, dtype: np.dtype, below: bool = False) -> float:
    """``hu`` as the same test on voxels of ``dtype``: for integer voxels an integer (v > t is
    v > ⌊t⌋, v < t is v < ⌈t⌉), since numpy compares an integer array with a float in float64,
    voxel by voxel, at twice the cost of comparing it with an integer."""
    if np.dtype(dtype).kind not in "iu":
        return hu
    return math.ceil(hu) if below else math.floor(hu)


def in_ranges(values: np.ndarray, ranges: Sequence[Tuple[float, float]]) -> Optional[np.ndarray]:
    """Where ``values`` lie in one of the closed ``ranges`` (lowest, highest) — padding, a mask
    — as a bool array; None without ranges (the common case costs nothing)."""
    found = None
    for low, high in ranges:
        inside = values >= voxel_threshold(low, values.dtype, below=True)
        inside &= values <= voxel_threshold(high, values.dtype)
        found = inside if found is None else found | inside
    return found


def sample_step(rows: int, columns: int, across: int = SAMPLES_ACROSS) -> int:
    """Every how many pixels a sample is taken, for ~``across`` samples along the shorter side."""
    return max(1, int(round(min(rows, columns) / float(across))))


def find_core_section(values: np.ndarray, pixel_spacing_ij_mm: Tuple[float, float],
                      step: Optional[int] = None, min_core_hu: float = MIN_CORE_HU,
                      min_diameter_mm: float = MIN_DIAMETER_MM, max_core_hu: float = math.inf,
                      fill_floor_hu: Optional[float] = None, excluded: Sequence[Tuple[float, float]] = (),
                      ignore: Optional[np.ndarray] = None) -> Optional[CoreSection]:
    """The core's cross-section in the slice ``values`` (rows × columns, HU), or None when the
    slice holds no core (see the module docstring).  ``step`` defaults to :func:`sample_step`.

    ``min_core_hu`` / ``max_core_hu``: the CT range of the core's matter (decided per core by
    :mod:`.surroundings`); ``fill_floor_hu``: a fluid fills the liner around the core, and matter
    below this is that fluid — cut away as an air gap is (None: air surrounds the core);
    ``excluded``: value ranges that are no data (padding, a mask: never matter); ``ignore``: bool
    on the sample grid, where objects that are not core lie (calibration rods beside it)."""
    rows, columns = values.shape
    step = step or sample_step(rows, columns)
    sample = values[::step, ::step]
    h, w = sample.shape
    dx, dy = pixel_spacing_ij_mm[0] * step, pixel_spacing_ij_mm[1] * step  # mm between samples
    matter = sample > MATTER_HU
    masked = in_ranges(sample, excluded)
    if masked is not None:
        matter &= ~masked
    if ignore is not None and ignore.shape == matter.shape:
        matter &= ~ignore
    if not matter.any():
        return None
    outline = span_fill(matter)
    core_matter = matter
    if fill_floor_hu is not None:
        core_matter = matter & (sample >= voxel_threshold(fill_floor_hu, sample.dtype, below=True))
    if max_core_hu < math.inf:
        core_matter = core_matter & (sample <= voxel_threshold(max_core_hu, sample.dtype))
    rock, lined = core_matter, False
    enclosed_air = outline & ~core_matter
    if fill_floor_hu is not None:  # the fluid, not the partial volumes of the liner's outer edge with air
        enclosed_air &= erode(outline)
    outline_count = int(np.count_nonzero(outline))
    if np.count_nonzero(enclosed_air) > 0.02 * outline_count:
        cut = liner_bore(outline, enclosed_air, outline_count, dx, dy)
        if cut is not None:
            rock, lined = core_matter & cut, True
    inner = span_fill(erode(rock))
    inner_count = int(np.count_nonzero(inner))
    if inner_count == 0:
        return None
    section = dilate(inner) & (outline if not lined else span_fill(rock))
    area_mm2 = float(np.count_nonzero(section)) * dx * dy
    radius = math.sqrt(area_mm2 / math.pi)
    if 2.0 * radius < min_diameter_mm:
        return None
    solid = inner & matter
    if not solid.any():
        return None
    solid_mean = float(sample[solid].mean())
    if not min_core_hu <= solid_mean <= max_core_hu:
        return None
    column_sums, row_sums = section.sum(axis=0), section.sum(axis=1)
    total = float(column_sums.sum())
    centre_i = float(column_sums @ np.arange(w)) / total * step
    centre_j = float(row_sums @ np.arange(h)) / total * step
    return CoreSection((centre_i, centre_j), radius, (float(pixel_spacing_ij_mm[0]), float(pixel_spacing_ij_mm[1])),
                       (rows, columns), step, inner, lined)


def liner_bore(outline: np.ndarray, enclosed_air: np.ndarray, outline_count: int,
                dx: float, dy: float) -> Optional[np.ndarray]:
    """Samples inside a liner's bore (bool), or None when the enclosed air is not a liner's gap
    (pores or vugs in a bare core)."""
    h, w = outline.shape
    rows_mm, columns_mm = np.arange(h) * dy, np.arange(w) * dx
    centre_y = float(outline.sum(axis=1) @ rows_mm) / outline_count
    centre_x = float(outline.sum(axis=0) @ columns_mm) / outline_count
    y2 = (rows_mm - centre_y) ** 2
    x2 = (columns_mm - centre_x) ** 2
    r2 = y2[:, None] + x2[None, :]
    outer_radius = math.sqrt(outline_count * dx * dy / math.pi)
    # the bore: the outermost enclosed air off the outline's edge — a partial-volume sample of the
    # liner's outer edge with the room's air reads as air between two matter samples of its row or
    # column, and taken as the bore it would leave no gap inside it and the liner uncut
    inside_air = enclosed_air & erode(outline)
    if not inside_air.any():
        return None
    bore = math.sqrt(float(r2[inside_air].max()))
    if outer_radius - bore > 0.25 * outer_radius:
        return None  # a thick shell of matter outside the outermost air: a bare core with pores
    band = max(2.0 * max(dx, dy), 0.05 * outer_radius)
    near = outline & (r2 > (bore - band) ** 2) & (r2 <= bore * bore)
    near_air = enclosed_air & near
    if np.count_nonzero(near_air) < LINER_BAND_SHARE * np.count_nonzero(near):
        return None  # air bubbles or roots scattered through a soft core, not a gap all round
    near_wall = np.nonzero(near_air)
    if len(octants(near_wall[1] * dx - centre_x, near_wall[0] * dy - centre_y)) < 5:
        return None
    return r2 < (bore - 0.5 * min(dx, dy)) ** 2


def octants(x: np.ndarray, y: np.ndarray) -> set:
    """Which of the 8 octants around the origin the points fall in."""
    code = (x > 0).astype(np.int8) * 4 + (y > 0).astype(np.int8) * 2 + (np.abs(x) > np.abs(y)).astype(np.int8)
    return set(np.unique(code).tolist())


def span_fill(mask: np.ndarray) -> np.ndarray:
    """Samples lying between two ``mask`` samples of their row or of their column: a disc's
    pores and cracks filled, a ring made a disc, the outline of scattered pieces.  Both ways: a
    crack along the rows spans its rows from edge to edge, and only the columns see rock on
    either side of it — the log must not depend on how the core lay on the scanner's table."""
    return _row_span_fill(mask) | _row_span_fill(mask.T).T


def _row_span_fill(mask: np.ndarray) -> np.ndarray:
    """Samples lying between two ``mask`` samples of their row."""
    w = mask.shape[1]
    first = mask.argmax(axis=1)
    last = w - 1 - mask[:, ::-1].argmax(axis=1)
    last[~mask.any(axis=1)] = -1  # an empty row spans nothing
    columns = np.arange(w)[None, :]
    return (columns >= first[:, None]) & (columns <= last[:, None])


def erode(mask: np.ndarray) -> np.ndarray:
    """Samples whose four neighbours are all in ``mask`` (the image border counts as outside)."""
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    out[0], out[-1], out[:, 0], out[:, -1] = False, False, False, False
    return out


def dilate(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one sample to its four neighbours (undoes :func:`_erode` on a disc)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


FULL_SHARE = 0.9  # a section whose equivalent radius is below this share of the core's is partial (an end's)


def full_radius(radii_mm: Sequence[float]) -> Optional[float]:
    """The core's radius from the equivalent radii of sections spread along it (None without):
    the median of the larger half — up to half of them may be partial sections of an end, a cap
    or a broken piece, smaller than the core's; a stray larger one (rubble spread in the liner)
    moves it by one rank at most."""
    if not len(radii_mm):
        return None
    ordered = sorted(float(r) for r in radii_mm)
    return float(np.median(ordered[len(ordered) // 2:]))
