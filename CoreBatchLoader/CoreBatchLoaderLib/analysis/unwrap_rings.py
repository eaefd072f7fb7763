"""What each slice leaves for the unwrap (:mod:`.unwrap`): one ring of samples about its own
core centre, kept in a temporary file until the core's axis is fitted.

**One pass.**  The axis is fitted only when the last slice has gone by, so each slice leaves
behind one *ring*: ``W`` samples (bilinear) on the circle of radius ``r`` about the slice's own
core centre — the unwrap's row as that slice sees it (:class:`Rings`: one gather over a cached
stencil, ~15 µs for a 133 mm core at 0.26 mm pixels in the conversion's loop, where the slice
is no longer in the CPU's nearest cache).  :mod:`.unwrap_finish` turns the rings to the fitted
axis.

**Memory bound.**  One ring a slice is the unwrap itself: ``W`` float32 samples, 5.8 KB a
slice for a 133 mm core at 0.26 mm pixels (``W`` = 1446 at r = 0.9 × 66.5 mm), 10 MB for
900 mm of core at 0.5 mm and twice that for 1.8 m — memory that would grow with the core.  So
the rings wait in an unnamed temporary file in the output folder (:class:`_RingFile`, written
64 rings at a time; 1 % more bytes written than the volume, gone when closed or when the
process dies), and what a slice leaves in memory is 24 bytes (its k and its centre): 0.35 MB
of buffer plus 43 KB for 1800 slices.

**Radius.**  ``--unwrap-radius 0.9`` (a plain number: a fraction of the core's measured
radius — the surface itself is often damaged) or ``30mm`` (a radius in millimetres); see
:class:`UnwrapRadius`.  The core's radius is measured on *full* cross-sections, before the
first ring: the sections of the few slices read before the loop, spread over 10 %…90 % of the
core (:meth:`.slices.SliceAnalyses.decide`), the median of their larger half
(:func:`.core_section.full_radius`).  Scans very often start in air, an end cap or a rounded or broken end,
whose partial sections — carried over 10 mm by the section finder — made the median of the
first 32 sections 7–14 mm on a 28.8 mm core: the unwrap sampled the core's inside.  Deciding
before the first ring keeps one radius for every ring with nothing to sample again.  Only
without that look-ahead (rings fed directly) is the radius the median of the first
:data:`Rings.RADIUS_SLICES` sections.

Written by hand in numpy (no scipy.ndimage.map_coordinates): a ring is one gather of four
neighbours from a stencil made once per sub-pixel position of the centre; map_coordinates
would recompute the weights every slice and add a dependency.
"""
from __future__ import annotations

import math
import re
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..defaults import DEFAULT_RADIUS_TEXT
from ..dicom.headers import median_of_few

MAX_RADIUS_MM = 250.0  # half a CT scanner's 500 mm field of view: a larger circle lies outside every slice,
# and the unwrap's width grows with the radius (1e400mm was infinity, every core an "internal error")


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
        if in_mm and value > MAX_RADIUS_MM:
            raise UnwrapRadiusError("--unwrap-radius %r: a radius in millimetres must be at most %gmm (half "
                                    "a CT scanner's field of view)" % (text, MAX_RADIUS_MM))
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

    The radius: in mm as given, or the fraction times ``core_radius_mm`` (the core's radius
    measured on full sections before the loop, :func:`.core_section.full_radius`), or without it the median
    radius of the first :data:`RADIUS_SLICES` sections (then fixed, so every ring of the core
    has one radius).

    Speed: the ring's four neighbours and weights depend only on the centre's position within
    its pixel, taken to 1/:data:`SUBPIXEL` pixel (an error far below the centre's own), so they
    are computed once per position (:class:`_Stencil`) and a ring costs one gather and a sum.
    """

    RADIUS_SLICES = 32
    SUBPIXEL = 8

    def __init__(self, shape: Tuple[int, int], spacing_ij: Tuple[float, float],
                 radius: UnwrapRadius = DEFAULT_RADIUS, folder: Optional[Path] = None,
                 core_radius_mm: Optional[float] = None) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.spacing_ij = (float(spacing_ij[0]), float(spacing_ij[1]))
        self.radius = radius
        self.folder = folder
        self._slices = array("q")  # k of each ring, in the order kept (increasing)
        self._centres = array("d")  # i, j (mm) of the centre each ring is about
        self._with_nan = array("q")  # places of the rings holding a NaN (off the image, a float NaN)
        self._file: Optional[_RingFile] = None
        self.core_radii_mm: List[float] = []
        self.width = 0
        self.radius_mm = 0.0
        self._unit: Optional[Tuple[np.ndarray, np.ndarray]] = None  # cos θ / Δi, sin θ / Δj
        self._stencils: Dict[Tuple[int, int], _Stencil] = {}
        self._parts: Dict[Tuple[int, int], _Half] = {}  # _pixels_along
        self._last_centre: Optional[Tuple[int, int]] = None  # the last centre (1/SUBPIXEL pixels), its
        self._last_stencil: Optional[_Stencil] = None  # stencil and where it starts in the flat slice
        self._last_start: Optional[int] = None  # (None: the ring leaves the image)
        self._radius_known = bool(core_radius_mm)  # measured before the slices: no first sections to measure
        if self._radius_known:
            self._measure_radius(float(core_radius_mm))  # type: ignore[arg-type]

    @property
    def pixel_mm(self) -> float:
        return min(self.spacing_ij)

    def __len__(self) -> int:
        return len(self._slices)

    def add(self, k: int, values: Optional[np.ndarray], centre_ij: Optional[Sequence[float]],
            core_radius_mm: Optional[float]) -> None:
        if values is None or centre_ij is None or core_radius_mm is None or not core_radius_mm > 0:
            return
        k = int(k)
        if self._slices and k <= self._slices[-1]:
            raise ValueError("rings come slice after slice: k = %d after k = %d" % (k, self._slices[-1]))
        if not self._radius_known and len(self.core_radii_mm) < self.RADIUS_SLICES:
            self._measure_radius(float(core_radius_mm))
        quantized = (int(round(float(centre_ij[0]) * self.SUBPIXEL)), int(round(float(centre_ij[1]) * self.SUBPIXEL)))
        if quantized != self._last_centre:  # a carried section's centre stays put for many slices
            self._last_centre = quantized
            self._last_start = self._stencil_for(quantized)
        ci, cj = quantized[0] / self.SUBPIXEL, quantized[1] / self.SUBPIXEL
        if self._file is None:
            self._file = _RingFile(self.width, self.folder)
        ring = self._file.slot()
        if self._last_start is not None:
            self._last_stencil.sample(values, self._last_start, ring)  # type: ignore[union-attr]
            if values.dtype.kind == "f" and np.isnan(ring).any():
                self._with_nan.append(len(self._slices))
        else:  # the ring leaves the image
            ring[:] = bilinear(values, ci + self._unit[0], cj + self._unit[1])  # type: ignore[index]
            if np.isnan(ring).any():
                self._with_nan.append(len(self._slices))
        self._file.commit()
        self._slices.append(k)
        self._centres.extend((ci * self.spacing_ij[0], cj * self.spacing_ij[1]))

    def _measure_radius(self, core_radius_mm: float) -> None:
        """One more of the first sections' radii: the unwrap's radius is the fraction of their
        median.  The samples' unit circle is made again only when that radius moves by more
        than :data:`RADIUS_PIXELS` (a median of noisy radii moves by hundredths of a pixel
        nearly every slice; each new circle cost ~0.1 ms a stencil)."""
        self.core_radii_mm.append(core_radius_mm)
        radius_mm = float(self.radius.mm(median_of_few(self.core_radii_mm)))  # type: ignore[arg-type]
        if self._unit is not None and abs(radius_mm - self.radius_mm) <= RADIUS_PIXELS * self.pixel_mm:
            return
        self.radius_mm = radius_mm
        if self._unit is None:
            self.width = columns_for(self.radius_mm, self.pixel_mm)
        theta = 2.0 * math.pi * (np.arange(self.width) + 0.5) / self.width
        self._unit = (self.radius_mm * np.cos(theta) / self.spacing_ij[0],
                      self.radius_mm * np.sin(theta) / self.spacing_ij[1])
        self._stencils = {}
        self._parts = {}
        self._last_centre = None

    def _stencil_for(self, quantized: Tuple[int, int]) -> Optional[int]:
        """Make the stencil of a centre (in 1/SUBPIXEL pixels) the current one; where it starts
        in the flattened slice, or None when the ring leaves the image."""
        whole_i, part_i = divmod(quantized[0], self.SUBPIXEL)
        whole_j, part_j = divmod(quantized[1], self.SUBPIXEL)
        stencil = self._stencils.get((part_i, part_j))
        if stencil is None:
            stencil = _Stencil(self._pixels_along(0, part_i), self._pixels_along(1, part_j), self.shape)
            self._stencils[(part_i, part_j)] = stencil
        self._last_stencil = stencil
        return stencil.start(whole_i, whole_j)

    def _pixels_along(self, axis: int, part: int) -> "_Half":
        """The unit circle's samples along i (axis 0) or j (1) from a centre ``part``/SUBPIXEL
        into its pixel: half of a stencil, shared by the SUBPIXEL stencils of that part (a
        tilted core's centre moves through most of the 64)."""
        key = (axis, part)
        half = self._parts.get(key)
        if half is None:
            assert self._unit is not None
            half = self._parts[key] = _Half(self._unit[axis] + part / self.SUBPIXEL,
                                            self.shape[1] if axis else 1)
        return half

    def slices(self) -> np.ndarray:
        """k of each ring kept, increasing (int64)."""
        return np.array(self._slices, dtype=np.int64)

    def with_nan(self) -> np.ndarray:
        """Places (in the order kept) of the rings that hold a NaN, increasing (int64)."""
        return np.array(self._with_nan, dtype=np.int64)

    def centres_mm(self) -> np.ndarray:
        """(rings × 2) the centre (i, j in mm) each ring is about."""
        return np.array(self._centres, dtype=np.float64).reshape(-1, 2)

    def read(self, first: int, stop: int, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Rings ``first`` … ``stop − 1`` in the order kept (rings × W, float32), into ``out``
        (a C-contiguous array of that shape) when given."""
        if self._file is None or not 0 <= first <= stop <= len(self):
            raise IndexError("rings %d..%d of %d" % (first, stop - 1, len(self)))
        return self._file.read(first, stop, out)

    def nbytes(self) -> int:
        """Memory held (the buffered rings, the slices' numbers, the stencils and their halves):
        what the unwrap costs while the core converts; the rings themselves are in the file.
        The stencils are bounded by the SUBPIXEL² positions of a centre in its pixel (~70 KB
        each for a 133 mm core: one on a straight core, most of the 64 on a tilted one)."""
        buffered = self._file.buffer.nbytes if self._file is not None else 0
        stencils = sum(s.offsets.nbytes + s.weights.nbytes for s in self._stencils.values())
        halves = sum(h.offsets.nbytes + h.weights.nbytes for h in self._parts.values())
        numbers = sum(a.itemsize * len(a) for a in (self._slices, self._centres, self._with_nan))
        return buffered + stencils + halves + numbers

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

    def slot(self) -> np.ndarray:
        """Where the next ring is to be written (kept by :meth:`commit`)."""
        return self.buffer[self._buffered]

    def commit(self) -> None:
        self._buffered += 1
        if self._buffered == self.BUFFER_RINGS:
            self._flush()

    def _flush(self) -> None:
        if self._buffered:
            self._file.seek(self._written * self.width * 4)
            self._file.write(memoryview(self.buffer[:self._buffered]).cast("B"))
            self._written += self._buffered
            self._buffered = 0

    def read(self, first: int, stop: int, out: Optional[np.ndarray] = None) -> np.ndarray:
        self._flush()
        rings = np.empty((stop - first, self.width), np.float32) if out is None else out
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


class _Half:
    """Samples at ``at`` pixels along one axis of the slice: their whole pixels' flat offsets
    (× ``stride``, the axis' step in the flattened slice), the weights of the pixel and of the
    next one, and how far they reach in whole pixels."""

    def __init__(self, at: np.ndarray, stride: int) -> None:
        whole = np.floor(at)
        fraction = (at - whole).astype(np.float32)
        self.offsets = whole.astype(np.int64) * stride
        self.weights = np.stack([1 - fraction, fraction])
        self.reach = (int(whole.min()), int(whole.max()) + 1)


class _Stencil:
    """Bilinear sampling at fixed offsets (i, j) from a pixel, in slices of ``shape`` (rows,
    columns): the four neighbours' flat offsets from the first one and their weights, computed
    once from the two halves (~30–60 µs); a ring is then one gather from a view of the slice
    and one weighted sum (~8 µs for 1,300 samples when the slice is in the CPU's cache, half of
    what adding the pixel's offset to the indices each time cost)."""

    def __init__(self, along_i: _Half, along_j: _Half, shape: Tuple[int, int]) -> None:
        rows, columns = shape
        at = along_j.offsets + along_i.offsets
        self.first = int(at.min())
        at -= self.first  # ≥ 0: a gather from the slice viewed from the first
        self.offsets = at + np.array([0, 1, columns, columns + 1])[:, None]
        self.weights = along_i.weights[[0, 1, 0, 1]] * along_j.weights[[0, 0, 1, 1]]
        self.reach_i, self.reach_j = along_i.reach, along_j.reach
        self.shape = (int(rows), int(columns))

    def start(self, i: int, j: int) -> Optional[int]:
        """Where the ring about pixel (i, j) starts in the flattened slice, or None when it
        leaves the image."""
        rows, columns = self.shape
        if not (0 <= i + self.reach_i[0] and i + self.reach_i[1] < columns and
                0 <= j + self.reach_j[0] and j + self.reach_j[1] < rows):
            return None
        return j * columns + i + self.first

    def sample(self, values: np.ndarray, start: int, out: np.ndarray) -> None:
        """The ring starting at ``start`` (:meth:`start`) of ``values`` into ``out`` (float32)."""
        neighbours = values.reshape(-1)[start:].take(self.offsets, mode="wrap")  # in range: no bounds check
        # casting: an int32 or int64 core (widened past int16) is summed in float32 like any other
        np.einsum("nw,nw->w", neighbours, self.weights, out=out, dtype=np.float32, casting="unsafe")




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


def columns_for(radius_mm: float, pixel_mm: float) -> int:
    """W: about one pixel of arc per column."""
    return max(8, int(round(2.0 * math.pi * radius_mm / pixel_mm)))


RADIUS_PIXELS = 1.0 / 32  # the unwrap's radius is taken to this, while its first sections are measured
