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
a sinusoid of amplitude r·tan(tilt).  Those points lie up to r·sin(tilt) off the slice, so
sampling is trilinear: bilinear in the two slices on either side, linear between them.

**One pass, bounded memory.**  The axis is fitted only when the last slice has gone by, so
each slice leaves behind only its *ring band*: the pixels within a few pixels of the circle
of the provisional radius about the slice's own core centre (:class:`RingBands`), a few
percent of the slice.  Extraction is one ``np.take`` with precomputed offsets
(:class:`BandTemplate`, shared by every slice with the same rounded radius), so the cost per
slice is the band's size, not the slice's.  When the axis is known, :func:`sample_unwrap`
reads the rows from the bands.  A point outside every band (a broken interval whose centre
strays, the core's ends where the circle leaves the scanned slices) has no value: NaN here,
:data:`MISSING_HU` in the file.

**Radius.**  ``--unwrap-radius 0.9`` (a plain number: a fraction of the core's measured
radius, the median over its slices — the surface itself is often damaged) or ``30mm`` (a
radius in millimetres); see :class:`UnwrapRadius`.

Written by hand in numpy (no scipy.ndimage.map_coordinates): the samples come from sparse
bands, not from an image, and the look-up is a gather on the band's index table.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
BAND_PIXELS = 2.5  # half-width of the band about the provisional circle, in pixels
BAND_RELATIVE = 0.01  # plus this fraction of the radius when the radius is a fraction of the core's


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


class BandTemplate:
    """The pixels of a slice within ``[inner, outer]`` mm of a pixel centre, as offsets.

    ``rows``/``columns``: offsets (pixels) of every band pixel, raster order; ``lookup``: a
    (2·reach_j + 1, 2·reach_i + 1) table giving each offset's position in the band (−1 outside).
    The same for every slice whose provisional radius rounds to the same pixel count.
    """

    def __init__(self, inner_mm: float, outer_mm: float, spacing_ij: Tuple[float, float]) -> None:
        di, dj = spacing_ij
        self.reach_i, self.reach_j = int(math.ceil(outer_mm / di)) + 1, int(math.ceil(outer_mm / dj)) + 1
        oj, oi = np.mgrid[-self.reach_j:self.reach_j + 1, -self.reach_i:self.reach_i + 1]
        distance = np.hypot(oi * di, oj * dj)
        inside = (distance >= inner_mm) & (distance <= outer_mm)
        self.rows, self.columns = oj[inside], oi[inside]
        self.lookup = np.full(inside.shape, -1, dtype=np.int32)
        self.lookup[inside] = np.arange(int(inside.sum()), dtype=np.int32)

    @property
    def size(self) -> int:
        return int(self.rows.size)


@dataclass
class _Band:
    template: BandTemplate
    centre_i: int  # the pixel the template is centred on
    centre_j: int
    values: np.ndarray  # the band's pixels in the template's order, the slice's own type


class RingBands:
    """What each slice leaves for the unwrap: its ring band about its own core centre.

    ``add`` takes the slice (rows × columns), the core centre found in it (pixels, i = column,
    j = row) and the core's radius there (mm, e.g. the equivalent radius of its cross-section),
    or ``None`` for a slice without core.  Memory: the bands (a few percent of each slice)
    and the radii; the slice itself is not kept.
    """

    def __init__(self, shape: Tuple[int, int], spacing_ij: Tuple[float, float],
                 radius: UnwrapRadius = DEFAULT_RADIUS) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.spacing_ij = (float(spacing_ij[0]), float(spacing_ij[1]))
        self.radius = radius
        self.bands: Dict[int, _Band] = {}
        self.core_radii_mm: List[float] = []
        self._templates: Dict[int, BandTemplate] = {}

    @property
    def pixel_mm(self) -> float:
        return min(self.spacing_ij)

    def measured_radius_mm(self) -> Optional[float]:
        """The core's radius: the median of its slices' radii (broken slices do not move it)."""
        return float(np.median(self.core_radii_mm)) if self.core_radii_mm else None

    def add(self, k: int, values: Optional[np.ndarray], centre_ij: Optional[Sequence[float]],
            core_radius_mm: Optional[float]) -> None:
        if values is None or centre_ij is None or core_radius_mm is None or not core_radius_mm > 0:
            return
        self.core_radii_mm.append(float(core_radius_mm))
        provisional = self.radius.mm(self.measured_radius_mm())
        template = self._template(provisional)
        ci, cj = int(round(centre_ij[0])), int(round(centre_ij[1]))
        rows, columns = self.shape
        j, i = template.rows + cj, template.columns + ci
        if cj - template.reach_j >= 0 and cj + template.reach_j < rows and \
                ci - template.reach_i >= 0 and ci + template.reach_i < columns:
            band = np.take(values, j * columns + i)  # the whole band lies in the slice
        else:  # near the image's edge: pixels outside it have no value
            outside = (j < 0) | (j >= rows) | (i < 0) | (i >= columns)
            band = np.take(values, np.clip(j, 0, rows - 1) * columns + np.clip(i, 0, columns - 1))
            band = band.astype(np.float32)
            band[outside] = np.nan
        self.bands[int(k)] = _Band(template, ci, cj, band)

    def _template(self, radius_mm: float) -> BandTemplate:
        """The band about a circle of ``radius_mm``, rounded to whole pixels so slices share it."""
        key = int(round(radius_mm / self.pixel_mm))
        template = self._templates.get(key)
        if template is None:
            half = BAND_PIXELS * max(self.spacing_ij) + (0.0 if self.radius.in_mm else BAND_RELATIVE * radius_mm)
            centre = key * self.pixel_mm
            template = BandTemplate(max(0.0, centre - half), centre + half, self.spacing_ij)
            self._templates[key] = template
        return template

    def bilinear(self, k: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Slice ``k`` at the pixel positions (i, j), bilinear; NaN outside the band or without one."""
        band = self.bands.get(k)
        if band is None:
            return np.full(i.shape, np.nan, dtype=np.float32)
        template = band.template
        i0, j0 = np.floor(i).astype(np.int64), np.floor(j).astype(np.int64)
        fi, fj = (i - i0).astype(np.float32), (j - j0).astype(np.float32)
        result = np.zeros(i.shape, dtype=np.float32)
        for di, dj, weight in ((0, 0, (1 - fi) * (1 - fj)), (1, 0, fi * (1 - fj)),
                               (0, 1, (1 - fi) * fj), (1, 1, fi * fj)):
            oi = i0 + di - band.centre_i + template.reach_i
            oj = j0 + dj - band.centre_j + template.reach_j
            inside = (oi >= 0) & (oi < template.lookup.shape[1]) & (oj >= 0) & (oj < template.lookup.shape[0])
            index = np.where(inside, template.lookup[np.clip(oj, 0, template.lookup.shape[0] - 1),
                                                     np.clip(oi, 0, template.lookup.shape[1] - 1)], -1)
            value = np.take(band.values, np.maximum(index, 0)).astype(np.float32)
            value[index < 0] = np.nan
            result += weight * value
        return result

    def nbytes(self) -> int:
        """Memory held by the bands (what the unwrap costs while the core converts)."""
        return sum(b.values.nbytes for b in self.bands.values())


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


def sample_unwrap(bands: RingBands, axis: SliceAxis, radius_mm: float, slices: int, slice_mm: float,
                  flip: bool = False) -> np.ndarray:
    """The unwrap (rows × W, float32, NaN where there is no sample), top of the core first.

    Row for slice ``k``: the circle of ``radius_mm`` about the axis, perpendicular to it,
    centred where the axis crosses slice ``k`` (see the module docstring).
    """
    width = columns_for(radius_mm, bands.pixel_mm)
    theta = 2.0 * math.pi * (np.arange(width) + 0.5) / width
    direction = np.array(axis.direction)
    across = np.array([1.0, 0.0, 0.0]) - direction[0] * direction  # +i, square to the axis
    across /= np.linalg.norm(across)
    third = np.cross(direction, across)  # toward +j when the axis runs toward +k
    offsets = radius_mm * (np.cos(theta)[:, None] * across + np.sin(theta)[:, None] * third)
    di, dj = bands.spacing_ij
    image = np.full((slices, width), np.nan, dtype=np.float32)
    for k in range(slices):
        points = axis.at_z(k * slice_mm) + offsets  # (W, 3) mm
        z = points[:, 2] / slice_mm
        k0 = np.floor(z).astype(np.int64)
        fraction = (z - k0).astype(np.float32)
        i, j = points[:, 0] / di, points[:, 1] / dj
        row = np.zeros(width, dtype=np.float32)
        for slice_index in np.unique(np.concatenate([k0, k0 + 1])):
            weight = np.where(k0 == slice_index, 1 - fraction, np.where(k0 + 1 == slice_index, fraction, 0))
            used = weight > 0
            if not used.any():
                continue
            values = np.full(width, np.nan, dtype=np.float32)
            values[used] = bands.bilinear(int(slice_index), i[used], j[used])
            row += np.where(used, weight * values, 0)
        image[k] = row
    return image[::-1] if flip else image


def to_output_type(unwrap: np.ndarray, dtype: str) -> np.ndarray:
    """The unwrap in the core's voxel type: rounded, clipped; no sample → :data:`MISSING_HU`."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return np.where(np.isfinite(unwrap), unwrap, MISSING_HU).astype(kind)
    info = np.iinfo(kind)
    filled = np.where(np.isfinite(unwrap), np.rint(unwrap), min(max(MISSING_HU, info.min), info.max))
    return np.clip(filled, info.min, info.max).astype(kind)


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
    """The unwrap at the conversion's per-slice hook (:mod:`.slices`): bands while the slices
    go by, the file when the core is written (see the module docstring)."""

    name = "unwrap"

    def __init__(self, radius: UnwrapRadius, pixel_spacing_ij_mm: Tuple[float, float]) -> None:
        self.radius = radius
        self.spacing_ij = (float(pixel_spacing_ij_mm[0]), float(pixel_spacing_ij_mm[1]))
        self.bands: Optional[RingBands] = None
        self.dtype: Optional[np.dtype] = None
        self.centres: List[Tuple[int, float, float]] = []  # k, i, j: the axis when the CT log is off

    def add_slice(self, k: int, values: Optional[np.ndarray], section: Optional[CoreSection]) -> None:
        if values is None:
            return
        if self.bands is None:
            self.bands = RingBands(values.shape, self.spacing_ij, self.radius)
            self.dtype = values.dtype
        if section is None:
            return
        centre = section.centre_ij
        self.centres.append((int(k), float(centre[0]), float(centre[1])))
        self.bands.add(k, values, centre, section.radius_mm)

    def finish(self, context: AnalysisContext) -> None:
        record, geometry = context.record, context.geometry
        bands = self.bands
        axis = self._axis(record, geometry)
        if bands is None or axis is None:
            record.warnings.append("unwrap not written: the core's cross-section was found in fewer than "
                                   "three slices")
            return
        spacing = geometry.spacing
        radius_mm = self.radius.mm(bands.measured_radius_mm())
        assert radius_mm is not None  # bands exist only where a radius was measured
        slices = int(geometry.sizes[2])
        depth = context.depth
        flip = bool(depth is not None and depth.flip)
        image = sample_unwrap(bands, axis, radius_mm, slices, spacing[2], flip)
        empty = int(np.isnan(image).all(axis=1).sum())
        if empty:
            record.warnings.append("unwrap: %d of %d rows without a sample (no core found there, or it strays "
                                   "from the fitted axis); drawn as %g" % (empty, slices, MISSING_HU))
        width = image.shape[1]
        key_values = provenance_key_values(record.source, record.series_uid)
        key_values.update({KEY_PREFIX + "core": record.name, RADIUS_KEY: repr(round(radius_mm, 6)),
                           KEY_PREFIX + "unwrap_radius": self.radius.text(), ANGLE_KEY: ANGLE_CONVENTION,
                           KEY_PREFIX + "unwrap_axis_tilt_deg": repr(round(axis.tilt_deg(), 4))})
        if depth is not None:
            key_values[FIRST_ROW_KEY] = repr(float(depth.top_m) + spacing[2] / 2000.0)
        relative = unwrap_file(record.name)
        target = Path(context.output_dir) / relative
        target.parent.mkdir(exist_ok=True)
        write_image_2d(target, to_output_type(image, (self.dtype or np.dtype("float32")).name),
                       (2.0 * math.pi * radius_mm / width, spacing[2]), key_values,
                       durable=context.durable)
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
