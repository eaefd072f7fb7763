"""The unwrap's finish (:mod:`.unwrap`): the rings each slice left (:mod:`.unwrap_rings`)
turned to the core's fitted axis and read along its tilted circles, a block of rows at a time.

When the axis is known, :func:`unwrap_blocks` turns each ring about the axis (the centre found
in a slice is off the fitted axis by a fraction of a pixel: the ring's angles shift, to first
order, by (Δ × e_θ)/r; a ring whose shift is below the centre's own rounding is left as it is)
and follows the tilted circle, which runs up to r·sin(tilt) above and below its slice, by
interpolating between slices (for the fitted axis, the same shift of rows for every row:
slicing, or one gather over the block for a steep tilt; a straight core's circle is its
slice).  A slice whose centre strays more than :data:`STRAY_PIXELS` from the axis (rubble)
has no ring, nor has a slice without core, and the core's first and last rows where the circle
leaves the scanned slices: NaN here, :data:`MISSING_HU` in the file.  Neglected, and below
0.3 % at a 4° tilt: the slice plane cuts the cylinder in an ellipse, not the circle sampled
(r/cos(tilt) across the tilt).

**Memory bound.**  The finish never holds the whole unwrap: it makes :data:`BLOCK_ROWS` rows
at a time, each block from the rings of its slices and a halo of ``reach`` slices above and
below (the tilted circle's reach), read back from the rings' file; the caller streams them
into the 2-D NRRD (:func:`..nrrd.writer.write_image_2d`).

**Speed** (~5 ms a 900-slice core straight, ~10 ms tilted with most rings turned): every step
is a few contiguous numpy passes over a block small enough to stay in the CPU's cache
(:data:`ROWS_PER_CHUNK`); a ring turned by less than a column takes its neighbours' differences
instead of a gather.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .unwrap_rings import Rings

MISSING_HU = -1000.0  # where the unwrap has no sample: air (clipped to the output type's range)


@dataclass(frozen=True)
class SliceAxis:
    """The core axis in the slices' own millimetres: x = i·Δi, y = j·Δj, z = k·Δk.

    ``point`` lies on the axis, ``direction`` is a unit vector with a positive z (toward +k).
    """

    point: Tuple[float, float, float]
    direction: Tuple[float, float, float]

    @classmethod
    def from_lps(cls, point_lps: Sequence[float], direction_lps: Sequence[float], origin_lps: Sequence[float],
                 directions_lps: Sequence[Sequence[float]]) -> "SliceAxis":
        """The axis as the manifest states it (LPS) in the frame of the core's voxel grid."""
        steps = np.array(directions_lps, dtype=np.float64).T  # columns: the i, j, k steps
        spacing = np.linalg.norm(steps, axis=0)
        inverse = np.linalg.inv(steps)
        point = inverse @ (np.asarray(point_lps, np.float64) - np.asarray(origin_lps, np.float64)) * spacing
        direction = inverse @ np.asarray(direction_lps, np.float64) * spacing
        direction /= np.linalg.norm(direction)
        if direction[2] < 0:
            direction = -direction
        return cls(tuple(float(v) for v in point), tuple(float(v) for v in direction))  # type: ignore[arg-type]

    def at_z(self, z: float) -> np.ndarray:
        """Where the axis crosses the plane at ``z`` mm (a slice plane)."""
        point, direction = np.array(self.point), np.array(self.direction)
        return point + (z - point[2]) / direction[2] * direction

    def tilt_deg(self) -> float:
        return math.degrees(math.acos(min(1.0, abs(self.direction[2]))))


STRAY_PIXELS = 2.5  # a slice whose centre lies farther than this from the fitted axis has no row
ROWS_PER_CHUNK = 16  # rings turned at once: their temporaries stay in the CPU's cache
BLOCK_ROWS = 64  # unwrap rows made at once by the finish (at least twice the tilted circle's reach)
TURN_COLUMNS = 1.0 / Rings.SUBPIXEL  # a ring whose centre is nearer the axis than this (in columns of arc,
# about pixels) is not turned: the turn would move its samples by less than the step on which ring
# centres are placed (1/8 pixel, 0.03 mm at 0.26 mm pixels), and the centre's radial offset, of the
# same size, is never corrected (a ring cannot be)
SNAP_SLICES = 1.0 / 256  # the tilted circle's height is taken to this (0.002 mm at 0.5 mm slices): a
# straight core's circle, a hair off its slice, is its slice — one copy instead of a weighted mix


def ring_offsets(rings: Rings, axis: SliceAxis, slices: int, slice_mm: float
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the rings of slices 0 … slices − 1 by their place in :class:`Rings`, their slices, each
    ring's centre minus the axis crossing of its slice in mm)."""
    all_slices = rings.slices()
    places = np.flatnonzero((all_slices >= 0) & (all_slices < slices))
    ks = all_slices[places]
    crossings = np.array(axis.point) + ((ks * slice_mm - axis.point[2]) / axis.direction[2])[:, None] * \
        np.array(axis.direction)
    return places, ks, rings.centres_mm()[places] - crossings[:, :2]


def stray_slices(rings: Rings, axis: SliceAxis, slices: int, slice_mm: float) -> List[int]:
    """The slices whose core centre lies more than :data:`STRAY_PIXELS` off the fitted axis."""
    _, ks, offsets = ring_offsets(rings, axis, slices, slice_mm)
    return [int(k) for k in ks[_strays(rings, offsets)]]


def _strays(rings: Rings, offsets_mm: np.ndarray) -> np.ndarray:
    """Which rings' centres lie more than :data:`STRAY_PIXELS` off the axis (``offsets_mm``:
    :func:`ring_offsets`'): their rings lie elsewhere (rubble), they make no row."""
    return np.hypot(offsets_mm[:, 0], offsets_mm[:, 1]) > STRAY_PIXELS * max(rings.spacing_ij)


def sample_unwrap(rings: Rings, axis: SliceAxis, slices: int, slice_mm: float, flip: bool = False,
                  block_rows: Optional[int] = None) -> np.ndarray:
    """The whole unwrap (rows × W, float32, NaN where there is no sample), top of the core first:
    :func:`unwrap_blocks` stacked (for tests and small cores; the finish streams the blocks)."""
    blocks = list(unwrap_blocks(rings, axis, slices, slice_mm, flip, block_rows))
    return np.concatenate(blocks) if blocks else np.empty((0, rings.width), np.float32)


def unwrap_blocks(rings: Rings, axis: SliceAxis, slices: int, slice_mm: float, flip: bool = False,
                  block_rows: Optional[int] = None) -> Iterator[np.ndarray]:
    """The unwrap (rows × W, float32, NaN where there is no sample), top of the core first, in
    blocks of at most ``block_rows`` rows (default :data:`BLOCK_ROWS`, or twice the circle's
    reach when that is more): memory is a block and its halo, never the whole unwrap.

    Row for slice ``k``: the circle of the rings' radius about the fitted axis, perpendicular
    to it, through the point where the axis crosses slice ``k`` (see the module docstring).
    Each ring was sampled about its slice's own centre; it is first turned to the axis (the
    angle of a ring point seen from the axis, to first order in the centre's offset), then the
    tilted circle takes, column by column, the two slices it passes between: for the fitted
    axis that is the same shift of rows for every row, so the second step is slicing (or one
    gather over the block when the shifts are many).
    Rows k … k + n of a block take the rings of slices k − reach … k + n + reach only: each
    block is computed exactly as the whole unwrap would be.
    """
    circle = _TiltedCircle(rings, axis, slice_mm)
    places, ks, offsets = ring_offsets(rings, axis, slices, slice_mm)
    near = ~_strays(rings, offsets)
    turned = _TurnedRings(rings, places[near], ks[near], offsets[near], circle)
    rows = max(1, int(block_rows)) if block_rows else max(BLOCK_ROWS, 2 * circle.reach)
    starts = list(range(0, slices, rows))
    for start in (reversed(starts) if flip else starts):
        block = circle.rows(turned, start, min(start + rows, slices))
        yield block[::-1] if flip else block


class _TiltedCircle:
    """Where the circle square to the axis runs, column by column: ``whole[c]`` slices above or
    below its row's own, plus ``fraction[c]`` of the way to the next (the same for every row)."""

    def __init__(self, rings: Rings, axis: SliceAxis, slice_mm: float) -> None:
        width, radius = rings.width, rings.radius_mm
        theta = 2.0 * math.pi * (np.arange(width) + 0.5) / width
        self.sin, self.cos = np.sin(theta).astype(np.float32), np.cos(theta).astype(np.float32)
        direction = np.array(axis.direction)  # the circle square to the axis: its slices above and below
        across = np.array([1.0, 0.0, 0.0]) - direction[0] * direction  # +i, square to the axis
        across /= np.linalg.norm(across)
        third = np.cross(direction, across)  # toward +j when the axis runs toward +k
        offset = radius * (self.cos * across[2] + self.sin * third[2]) / slice_mm  # slices above/below
        offset = np.round(offset / SNAP_SLICES) * SNAP_SLICES
        self.whole = np.floor(offset).astype(np.int64)
        self.fraction = (offset - self.whole).astype(np.float32)
        self.reach = int(np.abs(self.whole).max()) + 2
        self.width = width
        self.columns_per_mm = width / (2.0 * math.pi * radius)
        self.level = not self.whole.any() and not self.fraction.any()  # a straight core: row k is ring k
        edges = [0] + list(np.flatnonzero(np.diff(self.whole)) + 1) + [width]
        self.runs = list(zip(edges[:-1], edges[1:]))  # runs of columns that take the same two slices
        self._index: Dict[int, np.ndarray] = {}

    GATHER_RUNS = 8  # with more runs of columns than this, a gather over the block beats slicing run by run

    def rows(self, turned: "_TurnedRings", start: int, stop: int) -> np.ndarray:
        """Unwrap rows of slices ``start`` … ``stop − 1`` (slice order)."""
        reach, count = self.reach, stop - start
        padded, any_nan = turned.block(start - reach, stop + reach)  # the turned rings with a halo
        if self.level:  # a view: the block is made afresh for each call
            return padded[reach:reach + count]
        if len(self.runs) <= self.GATHER_RUNS:  # a slight tilt: each run of columns a slice of the block
            unwrap = np.empty((count, self.width), np.float32)
            for a, b in self.runs:
                first = reach + int(self.whole[a])
                _between(padded[first:first + count, a:b], padded[first + 1:first + 1 + count, a:b],
                         self.fraction[a:b], any_nan, unwrap[:, a:b])
            return unwrap
        # Column c of row n lies between padded rows n + reach + whole[c] and the next: one gather
        # each over the block (a steep tilt's many short runs sliced one by one cost three times
        # more).
        index = self._index.get(count)
        if index is None:
            index = self._index[count] = ((np.arange(count)[:, None] + reach + self.whole) * self.width +
                                          np.arange(self.width))
        flat = padded.reshape(-1)
        low = flat.take(index)
        return _between(low, flat.take(index + self.width), self.fraction, any_nan, low)


def _between(low: np.ndarray, high: np.ndarray, fraction: np.ndarray, any_nan: bool, out: np.ndarray) -> np.ndarray:
    """``low`` + ``fraction`` × (``high`` − ``low``) into ``out`` (which may be ``low``).

    A missing neighbour (NaN: before the first slice, after the last, a gap) — when ``any_nan``
    says there may be one — is stood in for by the other one where that is the nearer.  Else a
    core's circle, a hair off its own slice, took the NaN of the slice beyond the core's end
    with a tiny weight and blanked half its first and last rows."""
    if any_nan:
        mixed = low + (high - low) * fraction
        mixed = np.where(np.isnan(low) & (fraction >= 0.5), high, mixed)
        out[...] = np.where(np.isnan(high) & (fraction < 0.5), low, mixed)
        return out
    difference = np.subtract(high, low)
    difference *= fraction
    np.add(low, difference, out=out)
    return out


class _TurnedRings:
    """The rings turned about the fitted axis, made for a range of slices when a block needs them.

    Each ring was sampled about its slice's own centre; seen from the axis, its point at angle θ
    lies at θ + (Δ × e_θ)/r to first order in the centre's offset Δ: a shift of up to |Δ|
    columns.  Rings whose shift is below :data:`TURN_COLUMNS` are taken as they are (on a
    straight core, most: the carried slices' centres lie on the line fitted so far)."""

    def __init__(self, rings: Rings, places: np.ndarray, ks: np.ndarray, offsets_mm: np.ndarray,
                 circle: _TiltedCircle) -> None:
        self.rings, self.places, self.ks, self.circle = rings, places, ks, circle
        self.offsets = (offsets_mm * circle.columns_per_mm).astype(np.float32)  # mm → columns of arc
        self.turn = np.hypot(self.offsets[:, 0], self.offsets[:, 1]) >= TURN_COLUMNS
        self.limit = int(math.ceil(float(np.abs(self.offsets).max(initial=0.0)) * math.sqrt(2.0))) + 2
        self.with_nan = np.isin(places, rings.with_nan())

    def block(self, first: int, stop: int) -> Tuple[np.ndarray, bool]:
        """(stop − first, W) float32: row ``n`` is slice ``first + n``'s ring turned about the
        axis, NaN where the slice has none; and whether the block holds a NaN."""
        width = self.circle.width
        block = np.empty((stop - first, width), dtype=np.float32)
        lo, hi = (int(v) for v in np.searchsorted(self.ks, [first, stop]))
        rows = self.ks[lo:hi] - first
        missing = len(rows) < len(block)
        if missing:
            absent = np.ones(len(block), bool)
            absent[rows] = False
            block[absent] = np.nan
        if hi > lo:
            places = self.places[lo:hi]
            if places[-1] - places[0] == hi - lo - 1 and rows[-1] - rows[0] == hi - lo - 1:
                self.rings.read(int(places[0]), int(places[-1]) + 1, out=block[rows[0]:rows[-1] + 1])
            else:  # strays left out, slices without a ring
                block[rows] = self.rings.read(int(places[0]), int(places[-1]) + 1)[places - places[0]]
            turning = np.flatnonzero(self.turn[lo:hi]) + lo
            for chunk_start in range(0, len(turning), ROWS_PER_CHUNK):
                chunk = turning[chunk_start:chunk_start + ROWS_PER_CHUNK]
                at = self.ks[chunk] - first
                block[at] = self._turned(block[at], self.offsets[chunk])
        return block, bool(missing or self.with_nan[lo:hi].any())

    def _turned(self, kept: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Rings (rows × W) about centres ``offsets`` (columns of arc) off the axis, turned:
        column c of a turned ring is the ring at c + s(c), s(c) = Δi·sin θ − Δj·cos θ, linear
        between columns (the ring is closed: column W is column 0)."""
        shift = np.multiply.outer(offsets[:, 0], self.circle.sin)
        shift -= np.multiply.outer(offsets[:, 1], self.circle.cos)
        near = np.hypot(offsets[:, 0], offsets[:, 1]) < 1.0  # |s| ≤ |Δ|
        if near.all():
            return _shifted_by_less_than_a_column(kept, shift)
        turned = np.empty_like(kept)
        turned[near] = _shifted_by_less_than_a_column(kept[near], shift[near])
        far = ~near
        turned[far] = _shifted(kept[far], shift[far], self.limit)
        return turned


def _shifted_by_less_than_a_column(rings: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``rings`` (closed, rows × W) at columns c + shift (|shift| < 1), linear between columns:
    ring[c] + shift·(ring[c + 1] − ring[c]) where shift ≥ 0, shift·(ring[c] − ring[c − 1])
    where it is negative — the neighbours' differences taken on the flattened rings (contiguous
    passes, then the one column that wraps round): ~1 µs a ring of 1,300 columns, a third of
    the gather :func:`_shifted` needs."""
    flat = rings.reshape(-1)
    step = np.empty_like(rings)  # ring[c] − ring[c − 1], then where shift ≥ 0: ring[c + 1] − ring[c]
    np.subtract(flat[1:], flat[:-1], out=step.reshape(-1)[1:])
    step[:, 0] = rings[:, 0] - rings[:, -1]
    ahead = np.empty_like(rings)
    ahead.reshape(-1)[:-1] = step.reshape(-1)[1:]
    ahead[:, -1] = step[:, 0]
    np.copyto(step, ahead, where=shift >= 0)
    step *= shift
    step += rings
    return step


def _shifted(rings: np.ndarray, shift: np.ndarray, limit: int) -> np.ndarray:
    """``rings`` (closed, rows × W) at columns c + shift (|shift| < ``limit`` − 1), linear
    between columns: a gather from the rings wrapped round at both ends.  ``shift`` is used up."""
    width = rings.shape[1]
    at = shift
    at += np.arange(limit, limit + width, dtype=np.float32)  # where column c is in a padded ring: ≥ 0, truncation floors
    left = at.astype(np.int32)
    fraction = np.subtract(at, left, out=at)  # in place, as below: a block's temporaries stay few
    padded = np.empty((len(rings), width + 2 * limit), dtype=np.float32)
    padded[:, limit:limit + width] = rings
    padded[:, :limit], padded[:, limit + width:] = rings[:, width - limit:], rings[:, :limit]
    left += (np.arange(padded.shape[0], dtype=np.int32) * padded.shape[1])[:, None]
    flat = padded.reshape(-1)
    before = flat.take(left)
    left += 1
    after = flat.take(left)
    after -= before
    after *= fraction
    after += before
    return after


def to_output_type(unwrap: np.ndarray, dtype: str) -> np.ndarray:
    """The unwrap in the core's voxel type: rounded, clipped; no sample → :data:`MISSING_HU`."""
    kind = np.dtype(dtype)
    missing = ~np.isfinite(unwrap)
    if kind.kind == "f":
        return np.where(missing, np.float32(MISSING_HU), unwrap).astype(kind)
    info = np.iinfo(kind)
    filled = np.rint(unwrap)  # float32, like the unwrap: no float64 copy of a long core
    filled[missing] = min(max(MISSING_HU, info.min), info.max)
    return np.clip(filled, info.min, info.max, out=filled).astype(kind)
