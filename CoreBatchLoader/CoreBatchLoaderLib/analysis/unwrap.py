"""The unwrapped core: CT numbers on a cylinder about the core's axis, laid flat.

Geologists describe a core from its outer surface, and compare it with borehole image logs,
where a planar bed or fracture crossing the core is a sinusoid: its amplitude is r·tan(dip),
its deepest point the dip direction.  This module samples that surface while the core is
converted, in one pass, from the slices already in memory.

**Convention.**  Row ``n`` is output slice ``k = n`` (``k = last − n`` for a flipped core: the
top of the core first).  Column ``c`` of ``W`` covers the angle θ = 360° × (c + 0.5) / W about
the core axis, measured in the slice plane from the slice's +i (column) direction toward its
+j (row) direction (:data:`ANGLE_CONVENTION`).  ``W`` ≈ 2πr / pixel spacing: a column is one
pixel of arc.  The row's samples lie on the circle of radius ``r`` about the fitted axis in
the plane *perpendicular to the axis* through the point where the axis crosses slice ``k``:
a tilted core's unwrap follows its axis, so a bed square to the core is a straight line, not
a sinusoid of amplitude r·tan(tilt).

**One pass.**  The axis is fitted only when the last slice has gone by,
so each slice leaves behind one *ring*: ``W`` samples (bilinear) on the circle of radius ``r``
about the slice's own core centre — the unwrap's row as that slice sees it
(:class:`Rings`, one gather over a cached stencil: ~10 µs for a 133 mm core at 0.26 mm pixels).  When
the axis is known, :func:`unwrap_blocks` turns each ring about the axis (the centre found in
a slice is off the fitted axis by a fraction of a pixel: the ring's angles shift, to first
order, by (Δ × e_θ)/r) and follows the tilted circle, which runs up to r·sin(tilt) above and
below its slice, by interpolating between slices (for a straight axis the same row shift for
every row: slicing, no per-point look-up).  A slice whose centre strays more than
:data:`STRAY_PIXELS` from the axis (rubble) has no ring, nor has a slice without core, and the
core's first and last rows where the circle leaves the scanned slices: NaN here,
:data:`MISSING_HU` in the file.  Neglected, and below 0.3 % at a 4° tilt: the slice plane
cuts the cylinder in an ellipse, not the circle sampled (r/cos(tilt) across the tilt).

**Memory bound.**  One ring a slice is the unwrap itself: ``W`` float32 samples, 5.8 KB a
slice for a 133 mm core at 0.26 mm pixels (``W`` = 1446 at r = 0.9 × 66.5 mm), 10 MB for
900 mm of core at 0.5 mm and twice that for 1.8 m — memory that would grow with the core.  So
the rings wait in an unnamed temporary file in the output folder (:class:`_RingFile`, written
64 rings at a time; 1 % more bytes written than the volume, gone when closed or when the
process dies), and what a slice leaves in memory is 24 bytes (its k and its centre): 0.35 MB
of buffer plus 43 KB for 1800 slices.  The finish never holds the whole unwrap either: it
makes :data:`BLOCK_ROWS` rows at a time, each block from the rings of its slices and a halo of
``reach`` slices above and below (the tilted circle's reach), read back from the file, and
streams them into the 2-D NRRD (:func:`..nrrd.writer.write_image_2d`); the report draws the
PNG from that file in blocks of rows too.  Peak memory of the unwrap: about 2 MB, whatever the
core's length (``bench/memory.py``).

**Radius.**  ``--unwrap-radius 0.9`` (a plain number: a fraction of the core's measured
radius, the median of its first sections — the surface itself is often damaged) or ``30mm``
(a radius in millimetres); see :class:`UnwrapRadius`.

Written by hand in numpy (no scipy.ndimage.map_coordinates): a ring is one gather of four
neighbours, and the finish is array slicing; scipy would add a dependency for neither.
"""
from __future__ import annotations

import math
import re
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..dicom.geometry import CoreGeometry
from ..nrrd.writer import KEY_PREFIX, provenance_key_values, write_image_2d
from .core_section import CoreSection
from .ct_log import fit_axis
from .slices import AnalysisContext

DEFAULT_RADIUS_TEXT = "0.9"
ANGLE_CONVENTION = ("column c covers theta = 360 deg x (c + 0.5) / W about the core axis, in the slice plane "
                    "from +i (column) toward +j (row); row 0 = top of the core")
MISSING_HU = -1000.0  # where the unwrap has no sample: air (clipped to the output type's range)


class UnwrapRadiusError(ValueError):
    """``--unwrap-radius`` text that is neither a fraction nor millimetres."""


@dataclass(frozen=True)
class UnwrapRadius:
    """Where to unwrap: a fraction of the core's measured radius, or a radius in mm.

    Text form (``--unwrap-radius``): ``0.9`` — a plain number in (0, 1.5] is a fraction of
    the measured radius; ``30mm`` (or ``30 mm``) — millimetres.  A unit is required for
    millimetres, so ``30`` is an error rather than thirty times the core's radius.
    """

    value: float
    in_mm: bool = False

    @classmethod
    def parse(cls, text: str) -> "UnwrapRadius":
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(mm)?\s*", str(text))
        if not match:
            raise UnwrapRadiusError("--unwrap-radius %r: give a fraction of the core's radius (0.9) "
                                    "or millimetres (30mm)" % text)
        value, in_mm = float(match.group(1)), bool(match.group(2))
        if value <= 0 or (not in_mm and value > 1.5):
            raise UnwrapRadiusError("--unwrap-radius %r: a fraction must lie in (0, 1.5]; for a radius in "
                                    "millimetres write e.g. %gmm" % (text, value))
        return cls(value, in_mm)

    def text(self) -> str:
        return "%gmm" % self.value if self.in_mm else "%g" % self.value

    def mm(self, core_radius_mm: Optional[float]) -> Optional[float]:
        """The radius in mm for a core of ``core_radius_mm`` (None: no core was measured)."""
        if self.in_mm:
            return self.value
        return None if core_radius_mm is None else self.value * core_radius_mm


DEFAULT_RADIUS = UnwrapRadius.parse(DEFAULT_RADIUS_TEXT)


class Rings:
    """What each slice leaves for the unwrap: one ring of samples about its own core centre.

    ``add`` takes the slice (rows × columns), the core centre found in it (pixels, i = column,
    j = row) and the core's radius there (mm, the equivalent radius of its cross-section), or
    ``None`` for a slice without core, slice after slice (k increasing).  It samples the slice
    (bilinear) at ``W`` angles on the circle of the unwrap's radius about that centre — the
    unwrap's own columns — and keeps that row (float32, NaN off the image) and the centre; the
    slice itself is not kept.  The rows go to an unnamed temporary file in ``folder`` (the
    output folder; None: the system's) :data:`_RingFile.BUFFER_RINGS` at a time, so memory stays
    a few hundred KB and 24 bytes a slice whatever the core's length (the module docstring).

    The radius: in mm as given, or the fraction times the median radius of the first
    :data:`RADIUS_SLICES` sections (then fixed, so every ring of the core has one radius).

    Speed: the ring's four neighbours and weights depend only on the centre's position within
    its pixel, taken to 1/:data:`SUBPIXEL` pixel (an error far below the centre's own), so they
    are computed once per position (:class:`_Stencil`) and a ring costs one gather and a sum.
    """

    RADIUS_SLICES = 32
    SUBPIXEL = 8

    def __init__(self, shape: Tuple[int, int], spacing_ij: Tuple[float, float],
                 radius: UnwrapRadius = DEFAULT_RADIUS, folder: Optional[Path] = None) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.spacing_ij = (float(spacing_ij[0]), float(spacing_ij[1]))
        self.radius = radius
        self.folder = folder
        self._slices = array("q")  # k of each ring, in the order kept (increasing)
        self._centres = array("d")  # i, j (mm) of the centre each ring is about
        self._file: Optional[_RingFile] = None
        self.core_radii_mm: List[float] = []
        self.width = 0
        self.radius_mm = 0.0
        self._unit: Optional[Tuple[np.ndarray, np.ndarray]] = None  # cos θ / Δi, sin θ / Δj
        self._stencils: Dict[Tuple[int, int], _Stencil] = {}

    @property
    def pixel_mm(self) -> float:
        return min(self.spacing_ij)

    def __len__(self) -> int:
        return len(self._slices)

    def add(self, k: int, values: Optional[np.ndarray], centre_ij: Optional[Sequence[float]],
            core_radius_mm: Optional[float]) -> None:
        if values is None or centre_ij is None or core_radius_mm is None or not core_radius_mm > 0:
            return
        if self._slices and int(k) <= self._slices[-1]:
            raise ValueError("rings come slice after slice: k = %d after k = %d" % (k, self._slices[-1]))
        if len(self.core_radii_mm) < self.RADIUS_SLICES or self._unit is None:
            self.core_radii_mm.append(float(core_radius_mm))
            self.radius_mm = float(self.radius.mm(float(np.median(self.core_radii_mm))))  # type: ignore[arg-type]
            if self._unit is None:
                self.width = columns_for(self.radius_mm, self.pixel_mm)
            theta = 2.0 * math.pi * (np.arange(self.width) + 0.5) / self.width
            self._unit = (self.radius_mm * np.cos(theta) / self.spacing_ij[0],
                          self.radius_mm * np.sin(theta) / self.spacing_ij[1])
            self._stencils = {}
        qi, qj = (int(round(float(c) * self.SUBPIXEL)) for c in centre_ij[:2])
        ci, cj = qi / self.SUBPIXEL, qj / self.SUBPIXEL
        whole_i, part_i = divmod(qi, self.SUBPIXEL)
        whole_j, part_j = divmod(qj, self.SUBPIXEL)
        stencil = self._stencils.get((part_i, part_j))
        if stencil is None:
            stencil = _Stencil(self._unit[0] + part_i / self.SUBPIXEL, self._unit[1] + part_j / self.SUBPIXEL,
                               self.shape[1])
            self._stencils[(part_i, part_j)] = stencil
        ring = stencil.sample(values, whole_i, whole_j)
        if ring is None:  # the ring leaves the image
            ring = bilinear(values, ci + self._unit[0], cj + self._unit[1])
        if self._file is None:
            self._file = _RingFile(self.width, self.folder)
        self._file.append(ring)
        self._slices.append(int(k))
        self._centres.extend((ci * self.spacing_ij[0], cj * self.spacing_ij[1]))

    def slices(self) -> np.ndarray:
        """k of each ring kept, increasing (int64)."""
        return np.array(self._slices, dtype=np.int64)

    def centres_mm(self) -> np.ndarray:
        """(rings × 2) the centre (i, j in mm) each ring is about."""
        return np.array(self._centres, dtype=np.float64).reshape(-1, 2)

    def read(self, first: int, stop: int) -> np.ndarray:
        """Rings ``first`` … ``stop − 1`` in the order kept (rings × W, float32)."""
        if self._file is None or not 0 <= first <= stop <= len(self):
            raise IndexError("rings %d..%d of %d" % (first, stop - 1, len(self)))
        return self._file.read(first, stop)

    def nbytes(self) -> int:
        """Memory held (the buffered rings, the slices' numbers): what the unwrap costs while
        the core converts; the rings themselves are in the file."""
        buffered = self._file.buffer.nbytes if self._file is not None else 0
        return buffered + self._slices.itemsize * len(self._slices) + self._centres.itemsize * len(self._centres)

    def close(self) -> None:
        """Remove the rings' file (also when the object is collected: the file is unnamed)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class _RingFile:
    """Rings of one width (float32) appended to an unnamed temporary file, read back by index.

    Why a file: one ring a slice is the unwrap itself, 5.8 KB a slice for a 133 mm core — 10 MB
    for 900 mm of core at 0.5 mm, 21 MB for 1.8 m, growing with the core where a conversion
    process must stay within a fixed memory (issue 11).  The file adds 1 % to the volume's
    bytes written, through the page cache, and is gone when closed (or when the process dies).
    """

    BUFFER_RINGS = 64  # rings written at once (370 KB for W = 1446)

    def __init__(self, width: int, folder: Optional[Path]) -> None:
        self.width = int(width)
        self._file = tempfile.TemporaryFile(prefix=".corebatchloader-rings-", dir=folder)
        self.buffer = np.empty((self.BUFFER_RINGS, self.width), np.float32)
        self._buffered = 0
        self._written = 0

    def append(self, ring: np.ndarray) -> None:
        self.buffer[self._buffered] = ring
        self._buffered += 1
        if self._buffered == self.BUFFER_RINGS:
            self._flush()

    def _flush(self) -> None:
        if self._buffered:
            self._file.seek(self._written * self.width * 4)
            self._file.write(memoryview(self.buffer[:self._buffered]).cast("B"))
            self._written += self._buffered
            self._buffered = 0

    def read(self, first: int, stop: int) -> np.ndarray:
        self._flush()
        rings = np.empty((stop - first, self.width), np.float32)
        view = memoryview(rings).cast("B")
        self._file.seek(first * self.width * 4)
        got = 0
        while got < len(view):
            count = self._file.readinto(view[got:])
            if not count:
                raise OSError("the unwrap's ring file ends early (%d of %d bytes)" % (got, len(view)))
            got += count
        return rings

    def close(self) -> None:
        self._file.close()


class _Stencil:
    """Bilinear sampling at fixed offsets (i, j) from a pixel: the four neighbours' flat offsets
    in a slice of ``columns`` columns and their weights, computed once."""

    def __init__(self, i: np.ndarray, j: np.ndarray, columns: int) -> None:
        i0, j0 = np.floor(i).astype(np.int64), np.floor(j).astype(np.int64)
        fi, fj = (i - i0).astype(np.float32), (j - j0).astype(np.float32)
        at = j0 * columns + i0
        self.offsets = np.stack([at, at + 1, at + columns, at + columns + 1])
        self.weights = np.stack([(1 - fi) * (1 - fj), fi * (1 - fj), (1 - fi) * fj, fi * fj]).astype(np.float32)
        self.reach_i = (int(i0.min()), int(i0.max()) + 1)
        self.reach_j = (int(j0.min()), int(j0.max()) + 1)

    def sample(self, values: np.ndarray, i: int, j: int) -> Optional[np.ndarray]:
        """The ring about pixel (i, j) of ``values``, or None when it leaves the image."""
        rows, columns = values.shape
        if not (0 <= i + self.reach_i[0] and i + self.reach_i[1] < columns and
                0 <= j + self.reach_j[0] and j + self.reach_j[1] < rows):
            return None
        neighbours = values.reshape(-1).take(self.offsets + (j * columns + i))
        return np.einsum("nw,nw->w", neighbours, self.weights, dtype=np.float32)


def bilinear(values: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``values`` (rows × columns) at the pixel positions (i, j), bilinear, float32; NaN off the image."""
    rows, columns = values.shape
    i0 = np.clip(np.floor(i).astype(np.int64), 0, columns - 2)
    j0 = np.clip(np.floor(j).astype(np.int64), 0, rows - 2)
    fi, fj = (i - i0).astype(np.float32), (j - j0).astype(np.float32)
    flat = values.reshape(-1)
    at = j0 * columns + i0
    top = flat[at] * (1 - fi) + flat[at + 1] * fi
    bottom = flat[at + columns] * (1 - fi) + flat[at + columns + 1] * fi
    result = (top * (1 - fj) + bottom * fj).astype(np.float32)
    result[(i < 0) | (i > columns - 1) | (j < 0) | (j > rows - 1)] = np.nan
    return result


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


def columns_for(radius_mm: float, pixel_mm: float) -> int:
    """W: about one pixel of arc per column."""
    return max(8, int(round(2.0 * math.pi * radius_mm / pixel_mm)))


STRAY_PIXELS = 2.5  # a slice whose centre lies farther than this from the fitted axis has no row
ROWS_PER_CHUNK = 256  # rings turned at once: a few MB of temporaries
BLOCK_ROWS = 32  # unwrap rows made at once by the finish (at least twice the tilted circle's reach)


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
    return [int(k) for k in ks[np.hypot(offsets[:, 0], offsets[:, 1]) > STRAY_PIXELS * max(rings.spacing_ij)]]


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
    axis that is the same shift of rows for every row, so the second step is plain slicing.
    Rows k … k + n of a block take the rings of slices k − reach … k + n + reach only: each
    block is computed exactly as the whole unwrap would be.
    """
    circle = _TiltedCircle(rings, axis, slice_mm)
    places, ks, offsets = ring_offsets(rings, axis, slices, slice_mm)
    near = np.hypot(offsets[:, 0], offsets[:, 1]) <= STRAY_PIXELS * max(rings.spacing_ij)
    # a centre that strays from the axis: its ring lies elsewhere
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
        self.whole = np.floor(offset).astype(np.int64)
        self.fraction = (offset - self.whole).astype(np.float32)
        self.reach = int(np.abs(self.whole).max()) + 2
        self.width = width
        self.columns_per_mm = width / (2.0 * math.pi * radius)
        edges = [0] + list(np.flatnonzero(np.diff(self.whole)) + 1) + [width]
        self.runs = list(zip(edges[:-1], edges[1:]))  # runs of columns that take the same two slices

    def rows(self, turned: "_TurnedRings", start: int, stop: int) -> np.ndarray:
        """Unwrap rows of slices ``start`` … ``stop − 1`` (slice order)."""
        reach, count = self.reach, stop - start
        # column-major (the step shifts rows), with the halo above and below: the turned rings
        padded = turned.block(start - reach, stop + reach)
        unwrap = np.empty((count, self.width), dtype=np.float32)
        for a, b in self.runs:
            step = int(self.whole[a])
            low = padded[a:b, reach + step:reach + step + count]
            high = padded[a:b, reach + step + 1:reach + step + 1 + count]
            f = self.fraction[a:b, None]
            mixed = low * (1 - f) + high * f
            # A missing neighbour (before the first slice, after the last, a gap): the other one
            # stands in where it is the nearer.  Else a straight core's circle, a hair off its own
            # slice (a fitted tilt of 0.001°), took the NaN of the slice beyond the core's end
            # with a weight of 1e-6 and blanked half its first and last rows.
            mixed = np.where(np.isnan(low) & (f >= 0.5), high, mixed)
            unwrap[:, a:b] = np.where(np.isnan(high) & (f < 0.5), low, mixed).T
        return unwrap


class _TurnedRings:
    """The rings turned about the fitted axis, made for a range of slices when a block needs them."""

    def __init__(self, rings: Rings, places: np.ndarray, ks: np.ndarray, offsets_mm: np.ndarray,
                 circle: _TiltedCircle) -> None:
        self.rings, self.places, self.ks, self.circle = rings, places, ks, circle
        self.offsets = (offsets_mm * circle.columns_per_mm).astype(np.float32)  # mm → columns of arc
        self.limit = int(math.ceil(float(np.abs(self.offsets).max(initial=0.0)) * math.sqrt(2.0))) + 2

    def block(self, first: int, stop: int) -> np.ndarray:
        """(W, stop − first) float32: column ``n`` is slice ``first + n``'s ring turned about the
        axis, NaN where the slice has none."""
        width, limit = self.circle.width, self.limit
        padded = np.full((width, stop - first), np.nan, dtype=np.float32)
        lo, hi = (int(v) for v in np.searchsorted(self.ks, [first, stop]))
        columns = np.arange(limit, limit + width, dtype=np.float32)  # where column c is in a padded ring
        sin, cos = self.circle.sin, self.circle.cos
        for chunk_start in range(lo, hi, ROWS_PER_CHUNK):
            chunk = slice(chunk_start, min(chunk_start + ROWS_PER_CHUNK, hi))
            ks, places = self.ks[chunk], self.places[chunk]
            kept = self.rings.read(int(places[0]), int(places[-1]) + 1)[places - places[0]]  # strays left out
            at = columns + (self.offsets[chunk, 0:1] * sin - self.offsets[chunk, 1:2] * cos)  # ≥ 0: truncation floors
            left = at.astype(np.int32)
            fraction = np.subtract(at, left, out=at)  # in place, as below: a block's temporaries stay few
            rows = np.empty((len(ks), width + 2 * limit), dtype=np.float32)  # the ring wrapped round at both ends
            rows[:, limit:limit + width] = kept
            rows[:, :limit], rows[:, limit + width:] = kept[:, width - limit:], kept[:, :limit]
            del kept
            left += (np.arange(rows.shape[0], dtype=np.int32) * rows.shape[1])[:, None]
            flat = rows.reshape(-1)
            before = flat.take(left)
            left += 1
            after = flat.take(left)
            after -= before
            after *= fraction
            after += before
            padded[:, ks - first] = after.T
        return padded


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


# ---------------------------------------------------------------------------------------------
# The analysis at the conversion's hook, and its file


UNWRAP_DIR = "unwrap"
UNWRAP_SUFFIX = "_unwrap.nrrd"
RADIUS_KEY = KEY_PREFIX + "unwrap_radius_mm"
ANGLE_KEY = KEY_PREFIX + "unwrap_angle"
FIRST_ROW_KEY = KEY_PREFIX + "unwrap_first_row_depth_m"  # the centre of row 0, when depths are known


def unwrap_file(core_name: str) -> str:
    """The unwrap's path relative to the output folder."""
    return "%s/%s%s" % (UNWRAP_DIR, core_name, UNWRAP_SUFFIX)


class UnwrapAnalysis:
    """The unwrap at the conversion's per-slice hook (:mod:`.slices`): rings while the slices
    go by, the file when the core is written (see the module docstring)."""

    name = "unwrap"

    def __init__(self, radius: UnwrapRadius, pixel_spacing_ij_mm: Tuple[float, float],
                 folder: Optional[Path] = None) -> None:
        self.radius = radius
        self.folder = folder  # where the rings wait for the finish (Rings): the output folder
        self.spacing_ij = (float(pixel_spacing_ij_mm[0]), float(pixel_spacing_ij_mm[1]))
        self.rings: Optional[Rings] = None
        self.dtype: Optional[np.dtype] = None
        self.centres: List[Tuple[int, float, float]] = []  # k, i, j where a section was found
        self._previous: Optional[CoreSection] = None
        self._sums = np.zeros(7)  # n, Σk, Σk², Σi, Σki, Σj, Σkj of the centres found: the line so far

    def add_slice(self, k: int, values: Optional[np.ndarray], section: Optional[CoreSection]) -> None:
        if values is None:
            return
        if self.rings is None:
            self.rings = Rings(values.shape, self.spacing_ij, self.radius, self.folder)
            self.dtype = values.dtype
        if section is None:
            self._previous = None
            return
        if section is not self._previous:  # found in this slice
            centre: Tuple[float, float] = (float(section.centre_ij[0]), float(section.centre_ij[1]))
            self.centres.append((int(k), centre[0], centre[1]))
            self._sums += (1.0, k, k * k, centre[0], k * centre[0], centre[1], k * centre[1])
        else:
            centre = self._carried_centre(k, section)
        self._previous = section
        self.rings.add(k, values, centre, section.radius_mm)

    def _carried_centre(self, k: int, section: CoreSection) -> Tuple[float, float]:
        """Where the core's centre is in slice ``k`` when the section was carried over from an
        earlier slice (:mod:`.slices`): on the line fitted so far through the centres found (a
        tilted core's centre moves along the carry, 0.5 mm over 10 mm at 3°: a ring about the
        stale centre would sample a different depth into the core on either side)."""
        measured = (float(section.centre_ij[0]), float(section.centre_ij[1]))
        n, sk, skk, si, ski, sj, skj = (float(v) for v in self._sums)
        spread = n * skk - sk * sk
        if n < 2 or spread <= 0:
            return measured
        slope_i, slope_j = (n * ski - sk * si) / spread, (n * skj - sk * sj) / spread  # least squares
        predicted = ((si - slope_i * sk) / n + slope_i * k, (sj - slope_j * sk) / n + slope_j * k)
        if math.hypot(predicted[0] - measured[0], predicted[1] - measured[1]) > STRAY_PIXELS:
            return measured  # the centres found so far disagree (rubble): do not run off with them
        return predicted

    def finish(self, context: AnalysisContext) -> None:
        try:
            self._write(context)
        finally:
            if self.rings is not None:
                self.rings.close()

    def _write(self, context: AnalysisContext) -> None:
        record, geometry = context.record, context.geometry
        rings = self.rings
        axis = self._axis(record, geometry)
        if rings is None or not len(rings) or axis is None:
            record.warnings.append("unwrap not written: the core's cross-section was found in fewer than "
                                   "three slices")
            return
        spacing = geometry.spacing
        radius_mm = rings.radius_mm
        slices = int(geometry.sizes[2])
        depth = context.depth
        flip = bool(depth is not None and depth.flip)
        strays = stray_slices(rings, axis, slices, spacing[2])
        if strays:  # slices without core are expected (caps, foam, gaps): the CT log shows them
            record.warnings.append("unwrap: the core's centre strays more than %g pixels from the fitted axis "
                                   "in %d slice%s (first k = %d: rubble?); their rows are %g"
                                   % (STRAY_PIXELS, len(strays), "" if len(strays) == 1 else "s", strays[0],
                                      MISSING_HU))
        width = rings.width
        key_values = provenance_key_values(record.source, record.series_uid)
        key_values.update({KEY_PREFIX + "core": record.name, RADIUS_KEY: repr(round(radius_mm, 6)),
                           KEY_PREFIX + "unwrap_radius": self.radius.text(), ANGLE_KEY: ANGLE_CONVENTION,
                           KEY_PREFIX + "unwrap_axis_tilt_deg": repr(round(axis.tilt_deg(), 4))})
        if depth is not None:
            key_values[FIRST_ROW_KEY] = repr(round(float(depth.top_m) + spacing[2] / 2000.0, 9))  # nm: no 0.30050000000003
        relative = unwrap_file(record.name)
        target = Path(context.output_dir) / relative
        target.parent.mkdir(exist_ok=True)
        dtype = (self.dtype or np.dtype("float32")).name
        blocks = (to_output_type(block, dtype) for block in unwrap_blocks(rings, axis, slices, spacing[2], flip))
        write_image_2d(target, blocks, (width, slices), np.dtype(dtype),
                       (2.0 * math.pi * radius_mm / width, spacing[2]), key_values, durable=context.durable)
        record.unwrap = relative
        record.unwrap_radius_mm = round(radius_mm, 6)

    def _axis(self, record: Any, geometry: CoreGeometry) -> Optional[SliceAxis]:
        """The CT log's fitted axis (the manifest's), or the same fit through the centres this
        analysis saw when the CT log is off (``--no-ct-log``); None without three centres."""
        point, direction = record.axis_point_lps, record.axis_direction_lps
        if point is None or direction is None:
            if len(self.centres) < 3:
                return None
            k, i, j = (np.array(v, dtype=np.float64) for v in zip(*self.centres))
            fitted = fit_axis(np.column_stack([i, j]), k, geometry.ijk_to_lps)
            if fitted is None:
                return None
            point, direction = fitted[0], fitted[1]
        return SliceAxis.from_lps(point, direction, geometry.origin_lps, geometry.directions_lps)
