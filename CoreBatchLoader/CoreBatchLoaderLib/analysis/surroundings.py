"""What surrounds the core in a scan — air, a liner or barrel, a fluid filling the liner, a mask,
rods beside it — and so which CT numbers are core: decided once per core, from a few of its slices.

A fixed floor (300 HU, rock's) loses every core softer than rock: marine, lake and marsh
sediment, peat and root mats (−200…300 HU, near water's 0), poorly consolidated sand and chalk.
So the core is found by its *contrast with what surrounds it in this scan*, read from
:data:`SAMPLE_SLICES` slices spread along the core (10 %…90 % of it: the ends hold caps and
foam), on the section finder's sample grid (:mod:`.core_section`), before the conversion's
slice loop — a few ms a core, nothing per slice:

0. **no data**: PixelPaddingValue (…RangeLimit), and a value a viewer masked the scan with
   outside the core without the tag (:func:`border_mask`: over half the image's border and 5 %
   of the slice at exactly one value — noisy air is never one value); never core, in no
   statistic (masked rods inside the core: counted apart, :data:`.ct_log` ``MASKFR``);
   **rods and phantoms beside the core** (:func:`beside_objects`: small objects apart from the
   largest, outside its circle, standing at one place in most slices): never core either;
1. **air**: samples at or below ``MATTER_HU`` (−500 HU) outside the object; the object is the
   rest, filled along rows and columns (its *outline*), its centre the outline's centroid;
2. **the core's CT numbers**: the matter within 0.4 × the outline's radius of its centre — a
   core lies in the middle of its liner, even on the liner's low side: its median and 5th
   percentile;
3. **an air gap and a liner or barrel**: air enclosed by the outline reaching close to it all
   round (:func:`.core_section.liner_bore`); the liner's CT number is the median of the matter
   outside the bore;
4. **a fluid fill** (water, drilling mud in the liner): matter well below the core's CT numbers
   (more than 3 robust σ of the core's centre, at least 60 HU) that fills the band just inside
   the outermost such sample — over half of that band, in at least 5 of 8 octants (a crack or
   roots inside a bare core are scattered, not a band);
5. per core, the 25th percentile over the slices of each number (a slice in a cap, a gap or
   rubble does not decide), a fill or liner where half the slices found one.

**The core's CT range** (what :func:`.core_section.find_core_section` takes as core):

- in a fluid: above the fill by its contrast — halfway between the fill and the core's median,
  at most 4 σ of the fill (≥ 60 HU) above it; the fill is then cut away like an air gap;
- in air: halfway between air (−1000 HU) and the core's 5th percentile, clamped to
  [−500, 300] HU — rock keeps 300 HU (plastic end caps at −100 HU, foam and water are not rock),
  a peat core's floor goes down to −500 HU (its own end caps then read as core);
- ``--core-min-hu`` / ``--core-max-hu`` replace the floor and set a ceiling.

The record says what was found (:meth:`Surroundings.to_record`) and the report shows it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .core_section import (MATTER_HU, MIN_CORE_HU, dilate, erode, in_ranges, liner_bore, octants, sample_step,
                           span_fill)

AIR_HU = -1000.0
SAMPLE_SLICES = 9  # slices read once per core to decide (~7 ms of decision + their reads, bench/analysis_cost.md)
CENTRE_SHARE = 0.4  # the core's CT numbers: matter within this share of the outline's radius
MIN_CONTRAST_HU = 60.0  # a fill must differ from the core by this much (2 σ of a scanner's noise)
FILL_BAND_SHARE = 0.5  # a fill covers more than this share of the band inside the liner's bore


class CoreRangeError(ValueError):
    """``--core-min-hu`` / ``--core-max-hu`` that cannot be a range of CT numbers."""


def check_core_range(core_min_hu: Optional[float], core_max_hu: Optional[float]) -> None:
    """Raises :class:`CoreRangeError` naming the option when a bound is not a finite number or
    the range is empty."""
    for option, value in (("--core-min-hu", core_min_hu), ("--core-max-hu", core_max_hu)):
        if value is not None and not math.isfinite(value):
            raise CoreRangeError("%s %r: give a finite number of HU" % (option, value))
    if core_min_hu is not None and core_max_hu is not None and not core_min_hu < core_max_hu:
        raise CoreRangeError("--core-min-hu %g must be below --core-max-hu %g" % (core_min_hu, core_max_hu))


@dataclass(frozen=True)
class Surroundings:
    """What surrounds one core and which CT numbers are its own (the module docstring)."""

    core_min_hu: float = MIN_CORE_HU  # matter at or above this, in the section, is core
    core_max_hu: float = math.inf  # …and at or below this
    air: bool = True  # air (≤ −500 HU) around the object
    liner_hu: Optional[float] = None  # a liner or barrel around the core: its median CT number
    fill_hu: Optional[float] = None  # a fluid filling the liner around the core
    given: bool = False  # the range is the user's (--core-min-hu / --core-max-hu)
    slices: int = 0  # sample slices that showed an object
    notes: Tuple[str, ...] = field(default=())
    padding_hu: Optional[Tuple[float, float]] = None  # PixelPaddingValue (…RangeLimit), as voxel values
    mask_hu: Optional[float] = None  # one constant value surrounding the core at the image's border
    masked_objects: int = 0  # objects at the mask value inside the core's outline (masked rods)
    beside: Optional[np.ndarray] = field(default=None, repr=False, compare=False)  # sample grid: rods
    rods: int = 0  # calibration rods or phantoms beside the core (not core)

    @property
    def excluded(self) -> Tuple[Tuple[float, float], ...]:
        """Value ranges that are no data: in no statistic, never core, background in pictures."""
        ranges = [] if self.padding_hu is None else [self.padding_hu]
        if self.mask_hu is not None:
            ranges.append((self.mask_hu, self.mask_hu))
        return tuple(ranges)

    @property
    def fill_floor_hu(self) -> Optional[float]:
        """With a fill, the CT number below which matter in the liner is not core (else None:
        air is told from matter at −500 HU, the floor only decides whether a section is core)."""
        return self.core_min_hu if self.fill_hu is not None else None

    def describe(self) -> str:
        """One line for people: "air; liner 300 HU; fill 2 HU; core ≥ 75 HU"."""
        parts = ["air" if self.air else "no air"]
        if self.liner_hu is not None:
            parts.append("liner %.0f HU" % self.liner_hu)
        if self.fill_hu is not None:
            parts.append("fill %.0f HU" % self.fill_hu)
        parts.append("core %s%s" % (_range_text(self.core_min_hu, self.core_max_hu), " (given)" if self.given else ""))
        if self.padding_hu is not None:
            parts.append("padding %s left out" % _range_text(*self.padding_hu))
        if self.mask_hu is not None:
            parts.append("outside the core one value, %+.0f HU (a mask, no PixelPaddingValue): left out" % self.mask_hu)
        if self.rods:
            parts.append("%d rod%s or phantom%s beside the core left out" % (
                self.rods, "" if self.rods == 1 else "s", "" if self.rods == 1 else "s"))
        if self.masked_objects:
            parts.append("%d masked object%s inside the core left out of its statistics"
                         % (self.masked_objects, "" if self.masked_objects == 1 else "s"))
        return "; ".join(parts + list(self.notes))

    def to_record(self) -> Dict[str, object]:
        """The manifest's ``surroundings`` (plain JSON)."""
        return {"air": self.air, "liner_hu": _rounded(self.liner_hu), "fill_hu": _rounded(self.fill_hu),
                "core_min_hu": _rounded(self.core_min_hu), "core_max_hu": _rounded(self.core_max_hu),
                "given": self.given, "padding_hu": None if self.padding_hu is None else list(self.padding_hu),
                "mask_hu": self.mask_hu, "masked_objects": self.masked_objects, "rods": self.rods,
                "notes": list(self.notes),
                "text": self.describe()}


def excluded_ranges(surroundings: Optional[Dict[str, object]]) -> Tuple[Tuple[float, float], ...]:
    """The no-data value ranges of a record's ``surroundings`` (for the pictures, after the
    conversion): padding and mask."""
    if not surroundings:
        return ()
    ranges = []
    padding = surroundings.get("padding_hu")
    if isinstance(padding, (list, tuple)) and len(padding) == 2:
        ranges.append((float(padding[0]), float(padding[1])))
    mask = surroundings.get("mask_hu")
    if isinstance(mask, (int, float)):
        ranges.append((float(mask), float(mask)))
    return tuple(ranges)


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else round(float(value), 1)


def _range_text(low: float, high: float) -> str:
    if low == high:
        return "%+.0f HU" % low
    if math.isfinite(high):
        return "%.0f to %.0f HU" % (low, high)
    return "\u2265 %.0f HU" % low


def sample_positions(count: int, samples: int = SAMPLE_SLICES) -> List[int]:
    """Which of ``count`` slices decide: ``samples`` spread over 10 %…90 % of the core."""
    if count <= 0:
        return []
    picks = np.linspace(0.1, 0.9, min(samples, count)) * (count - 1)
    return sorted(set(int(round(p)) for p in picks))


@dataclass
class _SliceFindings:
    centre_median: float
    centre_low: float  # 5th percentile
    liner_hu: Optional[float] = None
    fill_hu: Optional[float] = None
    fill_sigma: float = 0.0
    air: bool = False
    masked_objects: int = 0
    beside: Optional[np.ndarray] = None  # the sample grid's objects beside the core (rods)


def decide_surroundings(slices: Sequence[np.ndarray], pixel_spacing_ij_mm: Tuple[float, float],
                        core_min_hu: Optional[float] = None, core_max_hu: Optional[float] = None,
                        padding_hu: Optional[Tuple[float, float]] = None) -> Surroundings:
    """The surroundings of a core from a few of its slices (HU, rows × columns), and the CT
    range taken as core — the user's bounds where given (the module docstring).  ``padding_hu``:
    the header's padding range, as voxel values."""
    mask_hu = border_mask(slices, padding_hu)
    excluded = Surroundings(padding_hu=padding_hu, mask_hu=mask_hu).excluded
    findings = [_slice_findings(values, pixel_spacing_ij_mm, excluded) for values in slices]
    found = [f for f in findings if f is not None]
    ceiling = math.inf if core_max_hu is None else float(core_max_hu)
    given = core_min_hu is not None or core_max_hu is not None
    if not found:
        return Surroundings(core_min_hu=MIN_CORE_HU if core_min_hu is None else float(core_min_hu),
                            core_max_hu=ceiling, given=given, padding_hu=padding_hu, mask_hu=mask_hu)
    half = len(found) / 2.0
    fills = [f for f in found if f.fill_hu is not None]
    liners = [f.liner_hu for f in found if f.liner_hu is not None]
    liner_hu = float(np.median(liners)) if len(liners) >= half else None
    centre_low = float(np.percentile([f.centre_low for f in found], 25))
    centre_median = float(np.percentile([f.centre_median for f in found], 25))
    fill_hu = None
    if len(fills) >= half:
        fill_hu = float(np.median([f.fill_hu for f in fills]))
        sigma = float(np.median([f.fill_sigma for f in fills]))
        floor = min((fill_hu + centre_median) / 2.0, fill_hu + max(MIN_CONTRAST_HU, 4.0 * sigma))
    else:
        floor = min(MIN_CORE_HU, max(MATTER_HU, (AIR_HU + centre_low) / 2.0))
    if core_min_hu is not None:
        floor = float(core_min_hu)
    air = any(f.air for f in found) or (mask_hu is not None and mask_hu <= MATTER_HU)  # air, or masked as air
    beside = _standing(found)
    return Surroundings(core_min_hu=floor, core_max_hu=ceiling, air=air,
                        liner_hu=liner_hu, fill_hu=fill_hu, given=given, slices=len(found),
                        padding_hu=padding_hu, mask_hu=mask_hu, masked_objects=max(f.masked_objects for f in found),
                        beside=beside, rods=count_objects(beside, 1) if beside is not None else 0)


def _standing(found: Sequence[_SliceFindings]) -> Optional[np.ndarray]:
    """Where objects beside the core stand in over half of the sample slices (rods run along the
    scan: the same place in every slice), grown by two samples against the partial volume of
    their edges; None without."""
    grids = [f.beside for f in found if f.beside is not None]
    if len(grids) * 2 <= len(found) or len({g.shape for g in grids}) != 1:
        return None
    standing = np.sum(grids, axis=0) * 2 > len(found)
    if not standing.any():
        return None
    return dilate(dilate(standing))


def border_mask(slices: Sequence[np.ndarray], padding_hu: Optional[Tuple[float, float]] = None) -> Optional[float]:
    """The one value a viewer's export set everything outside the core to (+3071, −1024, 0 HU…)
    without PixelPaddingValue: the value of over half the image's border pixels, exactly, and
    of over 5 % of the slice, in over half of ``slices``; None otherwise (noisy air is never one
    value).  A padding value already known is not looked for again."""
    votes: Dict[float, int] = {}
    for values in slices:
        border = np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])
        if padding_hu is not None:
            border = border[(border < padding_hu[0]) | (border > padding_hu[1])]
        if not border.size:
            continue
        candidates, counts = np.unique(border, return_counts=True)
        best = int(np.argmax(counts))
        if counts[best] * 2 <= border.size:
            continue
        value = candidates[best]
        if np.count_nonzero(values == value) < 0.05 * values.size:
            continue
        votes[float(value)] = votes.get(float(value), 0) + 1
    for value, count in votes.items():
        if count * 2 > len(slices):
            return value
    return None


def _slice_findings(values: np.ndarray, pixel_spacing_ij_mm: Tuple[float, float],
                    excluded: Sequence[Tuple[float, float]] = ()) -> Optional[_SliceFindings]:
    """What one slice shows around its object (None: no object, or no air and no mask at all —
    not HU)."""
    step = sample_step(*values.shape)
    sample = values[::step, ::step].astype(np.float64)
    dx, dy = pixel_spacing_ij_mm[0] * step, pixel_spacing_ij_mm[1] * step
    matter = sample > MATTER_HU
    masked = in_ranges(sample, excluded)
    if masked is not None:
        matter &= ~masked
    count = int(np.count_nonzero(matter))
    if count < 8 or (count == matter.size):
        return None
    beside = beside_objects(matter, dx, dy)  # calibration rods and phantoms beside the core
    if beside is not None:
        matter &= ~beside
    outline = span_fill(matter)
    outline_count = int(np.count_nonzero(outline))
    h, w = sample.shape
    rows_mm, columns_mm = np.arange(h) * dy, np.arange(w) * dx
    centre_y = float(outline.sum(axis=1) @ rows_mm) / outline_count
    centre_x = float(outline.sum(axis=0) @ columns_mm) / outline_count
    y, x = rows_mm[:, None] - centre_y, columns_mm[None, :] - centre_x
    r2 = y * y + x * x
    outer_radius = math.sqrt(outline_count * dx * dy / math.pi)
    central = matter & (r2 < (CENTRE_SHARE * outer_radius) ** 2)
    if np.count_nonzero(central) < 8:
        return None
    core_values = sample[central]
    low, q25, median, q75 = np.percentile(core_values, [5, 25, 50, 75])
    outside = ~matter & ~outline if masked is None else ~matter & ~outline & ~masked
    findings = _SliceFindings(float(median), float(low), air=bool(np.count_nonzero(outside)), beside=beside)
    if masked is not None:
        findings.masked_objects = count_objects(masked & erode(outline))
    enclosed_air = outline & ~matter if masked is None else outline & ~matter & ~masked
    if np.count_nonzero(enclosed_air) > 0.02 * outline_count:
        cut = liner_bore(outline, enclosed_air, outline_count, dx, dy)
        if cut is not None:
            wall = matter & ~cut
            if np.count_nonzero(wall):
                findings.liner_hu = float(np.median(sample[wall]))
            return findings
    sigma = (q75 - q25) / 1.349
    # below the core's CT numbers, off the outline's edge (whose partial volumes fall anywhere)
    other = matter & erode(outline) & (sample < median - max(MIN_CONTRAST_HU, 3.0 * sigma))
    if np.count_nonzero(other) < 0.03 * outline_count:
        return findings
    other = _inner_class(sample, other, r2, sigma)
    bore = math.sqrt(float(np.percentile(r2[other], 95)))  # not the max: a noisy liner sample is no fill
    if outer_radius - bore > 0.25 * outer_radius:
        return findings
    band = max(2.0 * max(dx, dy), 0.05 * outer_radius)
    near = outline & (r2 > (bore - band) ** 2) & (r2 <= bore * bore)
    near_other = near & other
    if np.count_nonzero(near_other) <= FILL_BAND_SHARE * np.count_nonzero(near):
        return findings
    rows, columns = np.nonzero(near_other)
    if len(octants(columns * dx - centre_x, rows * dy - centre_y)) < 5:
        return findings
    fill_values = sample[other]
    findings.fill_hu = float(np.median(fill_values))
    f25, f75 = np.percentile(fill_values, [25, 75])
    findings.fill_sigma = float(f75 - f25) / 1.349
    wall = matter & (r2 > (bore + 0.5 * min(dx, dy)) ** 2)
    if np.count_nonzero(wall):
        findings.liner_hu = float(np.median(sample[wall]))
    # rods standing in the fluid beside the core (inside the liner's outline): apart from the core
    # once the fluid is left out
    in_bore = matter & (r2 < (bore - 0.5 * min(dx, dy)) ** 2) & (sample >= (findings.fill_hu + median) / 2.0)
    rods = beside_objects(in_bore, dx, dy)
    if rods is not None:
        findings.beside = rods if findings.beside is None else findings.beside | rods
    return findings


def _inner_class(sample: np.ndarray, other: np.ndarray, r2: np.ndarray, core_sigma: float) -> np.ndarray:
    """``other`` (matter below the core's CT numbers) or, where it mixes two materials (a fluid
    and a liner both below a dense core: its spread far above the core's noise), the one lying
    nearer the centre — the fill inside the liner — split at Otsu's threshold of their values."""
    values = sample[other]
    q25, q75 = np.percentile(values, [25, 75])
    if (q75 - q25) / 1.349 <= 2.0 * max(core_sigma, 10.0):
        return other
    threshold = otsu_threshold(values)
    low = other & (sample < threshold)
    high = other & ~low
    if not low.any() or not high.any():
        return other
    return low if r2[low].mean() <= r2[high].mean() else high


def otsu_threshold(values: np.ndarray, bins: int = 64) -> float:
    """The value splitting ``values`` into two classes of least within-class variance (Otsu)."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight = np.cumsum(counts).astype(np.float64)
    total = weight[-1]
    mean_low = np.cumsum(counts * centres) / np.maximum(weight, 1)
    mean_all = float((counts * centres).sum()) / total
    mean_high = (mean_all * total - mean_low * weight) / np.maximum(total - weight, 1)
    between = weight * (total - weight) * (mean_low - mean_high) ** 2
    return float(edges[int(np.argmax(between[:-1])) + 1])


def beside_objects(matter: np.ndarray, dx: float, dy: float) -> Optional[np.ndarray]:
    """Small objects apart from the largest one (the core, or its liner) and outside its
    equivalent circle — calibration rods and phantoms scanned beside the core (water, glass,
    aluminium): bool on the sample grid, or None when there are none.  Broken pieces of a
    rubble interval lie inside the core's circle and stay."""
    if not _reaches_out(matter):
        return None  # the common case, without labelling (~1–4 ms a grid in Python)
    labels, count = components(matter)
    if count < 2:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1).astype(np.float64)
    sizes[0] = 0.0
    largest = int(np.argmax(sizes))
    rows, columns = np.indices(matter.shape)
    centre_j = np.bincount(labels.ravel(), weights=rows.ravel(), minlength=count + 1) / np.maximum(sizes, 1)
    centre_i = np.bincount(labels.ravel(), weights=columns.ravel(), minlength=count + 1) / np.maximum(sizes, 1)
    body = span_fill(labels == largest)
    radius = math.sqrt(np.count_nonzero(body) / math.pi)  # samples (dx ≈ dy on a CT slice)
    distance = np.hypot((centre_i - centre_i[largest]) * dx, (centre_j - centre_j[largest]) * dy) / max(dx, dy)
    chosen = np.nonzero((sizes >= 3) & (sizes < 0.15 * sizes[largest]) & (distance > radius))[0]
    if not len(chosen):
        return None
    return np.isin(labels, chosen)


def _reaches_out(matter: np.ndarray) -> bool:
    """Some matter lies farther from the centre of the matter's outline than its equivalent
    radius and two samples: a disc (a core, a liner) never does, an object beside it may."""
    outline = span_fill(matter)
    count = int(np.count_nonzero(outline))
    rows, columns = np.arange(outline.shape[0]), np.arange(outline.shape[1])
    centre_j = float(outline.sum(axis=1) @ rows) / count
    centre_i = float(outline.sum(axis=0) @ columns) / count
    reach = math.sqrt(count / math.pi) + 2.0
    far = ((rows[:, None] - centre_j) ** 2 + (columns[None, :] - centre_i) ** 2) > reach * reach
    return bool(np.count_nonzero(matter & far))


def components(mask: np.ndarray) -> Tuple[np.ndarray, int]:
    """(labels 1…n of the 4-connected objects of ``mask``, 0 elsewhere; n): runs along the rows
    joined where they overlap a run of the row before (union–find).  For the few sample grids
    read once per core — scipy's ``ndimage.label`` would be a dependency for this alone."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows_np, starts_np = np.nonzero(edges == 1)
    ends_np = np.nonzero(edges == -1)[1]  # exclusive; both in row-major order, one end per start
    run_rows, run_starts, run_ends = rows_np.tolist(), starts_np.tolist(), ends_np.tolist()  # Python ints: a
    parent = list(range(len(run_rows)))  # loop over lists runs several times faster than over numpy scalars

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    previous: List[int] = []  # runs of the row before
    row = -1
    current: List[int] = []
    for n, this_row in enumerate(run_rows):
        if this_row != row:
            previous = current if this_row == row + 1 else []
            current, row = [], this_row
        start, end = run_starts[n], run_ends[n]
        for m in previous:
            if run_starts[m] < end and start < run_ends[m]:
                a, b = root(n), root(m)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        current.append(n)
    roots = [root(n) for n in range(len(run_rows))]
    number = {r: i + 1 for i, r in enumerate(sorted(set(roots)))}
    labels = np.zeros((h, w), dtype=np.int32)
    run_labels = np.array([number[r] for r in roots], dtype=np.int32)
    lengths = ends_np - starts_np
    flat = np.repeat(rows_np * w + starts_np, lengths) + (np.arange(int(lengths.sum())) - np.repeat(
        np.cumsum(lengths) - lengths, lengths))
    labels.reshape(-1)[flat] = np.repeat(run_labels, lengths)
    return labels, len(number)


def count_objects(mask: np.ndarray, min_samples: int = 4) -> int:
    """How many 4-connected objects of at least ``min_samples`` ``mask`` holds (a voxel or two of
    noisy air that happen to read the mask's value are no object)."""
    if not mask.any():
        return 0
    labels, count = components(mask)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return int(np.count_nonzero(sizes >= min_samples))
