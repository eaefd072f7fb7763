"""Where the slice order is decided, and the volume's place in space.

DICOM places every slice on its own (PS3.3 C.7.6.2): Image Position (Patient) (0020,0032) is the
centre of the first voxel in LPS millimetres, Image Orientation (Patient) (0020,0037) the row and
column direction cosines, Pixel Spacing (0028,0030) the distance between rows then between
columns.  The slice order is the order of the positions projected on the slice normal
(row × column), exactly as Slicer's DICOM scalar-volume plugin sorts them; file names,
Instance Number and Slice Thickness do not decide anything.

The result is a :class:`CoreGeometry`: NRRD-ready ``sizes``, ``space directions`` and
``space origin`` in LPS, and for each output slice which input slice fills it (``None`` where a
missing slice is filled with background at its true position).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .headers import SliceHeader

GAP_POLICIES = ("fill", "fail")
MAX_GRID_FACTOR = 100  # a grid with more places than this many per slice is no core with gaps


class GeometryError(Exception):
    """The slices cannot form one regular volume; the message is one line."""


@dataclass(frozen=True)
class CoreGeometry:
    """Regular grid of a core in LPS, NRRD axis order (i = column, j = row, k = slice)."""

    sizes: Tuple[int, int, int]
    origin_lps: Tuple[float, float, float]
    directions_lps: Tuple[Tuple[float, float, float], ...]  # step vector of i, j, k in mm
    slice_order: Tuple[Optional[int], ...]  # per k: index into the input slices, None = gap
    warnings: Tuple[str, ...] = field(default=())

    @property
    def spacing(self) -> Tuple[float, float, float]:
        return tuple(float(np.linalg.norm(d)) for d in self.directions_lps)  # type: ignore

    @property
    def ijk_to_lps(self) -> np.ndarray:
        matrix = np.eye(4)
        matrix[:3, :3] = np.array(self.directions_lps).T
        matrix[:3, 3] = self.origin_lps
        return matrix


def spacing_tolerance(spacing: float) -> float:
    """How far a slice step may stray from the nominal spacing and still count as regular.

    Slicer's plugin uses 0.01 mm; for coarse spacings a relative 0.1 % is kinder, and for
    micro-CT spacings below 0.1 mm a tenth of the spacing is the most that makes sense.
    """
    return max(min(0.01, 0.1 * spacing), 1e-3 * spacing)


def placement_limit(spacing: float) -> float:
    """How far a slice may land from its ImagePositionPatient on the volume's regular grid: a
    tenth of the slice spacing (beyond it the core fails rather than move a slice silently)."""
    return max(spacing_tolerance(spacing), 0.1 * spacing)


def base_step(steps: np.ndarray, relative: np.ndarray) -> float:
    """The slice spacing the positions are multiples of.  Candidates: the typical step among the
    shortest ones (with half the slices missing at random, most steps are 2, 3… times it) and
    the typical step of all (one misplaced slice makes two odd short steps); the one that puts
    the most slices within :func:`placement_limit` of a grid place wins, the wider on a tie."""
    candidates = {_median(steps[steps < 1.5 * float(steps.min())]), _median(steps)}
    best = None
    for base in sorted(candidates):
        if not base > 0 or not np.isfinite(base):
            continue
        slots = np.rint(relative / base)
        spacing = float(relative[-1]) / max(float(slots[-1]), 1.0)
        placed = int(np.sum(np.abs(relative - slots * spacing) <= placement_limit(spacing)))
        if best is None or placed >= best[0]:
            best = (placed, base)
    return best[1] if best is not None else float("nan")


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    row = np.asarray(orientation[:3], dtype=float)
    column = np.asarray(orientation[3:6], dtype=float)
    return np.cross(row, column)


def compute_geometry(slices: Sequence[SliceHeader], gap_policy: str = "fill") -> CoreGeometry:
    """Sort ``slices`` along the normal, check them, and describe the regular grid they form.

    Every number of the result is finite: finite tags can still overflow (positions of 1e308 mm
    a step apart), and a volume placed at NaN or infinity is an error, never a file."""
    geometry = _compute_geometry(slices, gap_policy)
    numbers = np.concatenate([np.ravel(geometry.directions_lps), geometry.origin_lps])
    if not np.all(np.isfinite(numbers)) or not np.all(np.abs(numbers) < 1e30):
        raise GeometryError("%s: the geometry overflows (space directions %s, origin %s): check (0020,0032) "
                            "ImagePositionPatient and (0028,0030) PixelSpacing" % (
                                slices[0].name, [list(d) for d in geometry.directions_lps],
                                list(geometry.origin_lps)))
    return geometry


def _compute_geometry(slices: Sequence[SliceHeader], gap_policy: str) -> CoreGeometry:
    if gap_policy not in GAP_POLICIES:
        raise ValueError("gap_policy must be one of %s" % (GAP_POLICIES,))
    if not slices:
        raise GeometryError("no image slices")
    check_consistent(slices)
    first = slices[0]
    warnings: List[str] = []
    if any(s.position is None or s.orientation is None for s in slices):
        if all(s.position is None for s in slices):
            return _geometry_without_positions(slices)
        missing = next(s for s in slices if s.position is None or s.orientation is None)
        raise GeometryError("%s: (0020,0032) ImagePositionPatient or (0020,0037) "
                            "ImageOrientationPatient missing while other slices have them" % missing.name)
    orientation = first.orientation
    row = np.array(orientation[:3])
    column = np.array(orientation[3:6])
    normal = slice_normal(orientation)
    if abs(np.linalg.norm(normal) - 1.0) > 1e-3 or abs(float(row @ column)) > 1e-3:
        raise GeometryError("%s: (0020,0037) ImageOrientationPatient %s is not two orthogonal unit "
                            "vectors" % (first.name, list(orientation)))
    positions = np.array([s.position for s in slices], dtype=float)
    distances = positions @ normal
    order = sorted(range(len(slices)), key=lambda n: (distances[n], slices[n].instance_number or 0))
    sorted_d = distances[order]
    spacing_rows, spacing_columns = _pixel_spacing(first)
    directions = [tuple(row * spacing_columns), tuple(column * spacing_rows)]

    if len(slices) == 1:
        step, source = _step_from_tags(first)
        warnings.append("single slice: slice spacing %g mm taken from %s" % (step, source))
        directions.append(tuple(normal * step))
        return CoreGeometry((first.columns, first.rows, 1), tuple(positions[0]), tuple(directions),
                            (0,), tuple(warnings))

    steps = np.diff(sorted_d)
    for n, step in enumerate(steps):
        if step <= 1e-3:
            a, b = slices[order[n]], slices[order[n + 1]]
            raise GeometryError("duplicate slice position %.4f mm along the normal: %s and %s"
                                % (sorted_d[n], a.name, b.name))
    relative = sorted_d - sorted_d[0]
    base = base_step(steps, relative)
    if not np.isfinite(base) or float(relative[-1]) / base > MAX_GRID_FACTOR * len(slices):
        raise GeometryError("slice positions span %.6g mm for %d slices %.4f mm apart (%s to %s): not one "
                            "core; check (0020,0032) ImagePositionPatient" % (
                                float(relative[-1]), len(slices), base, slices[order[0]].name,
                                slices[order[-1]].name))
    slots = np.rint(relative / base).astype(np.int64)  # each sorted slice's place on the grid
    same = np.flatnonzero(np.diff(slots) == 0)
    if len(same):
        a, b = slices[order[same[0]]], slices[order[same[0] + 1]]
        raise GeometryError("slice positions do not form a regular grid: %s and %s are %.4f mm apart where "
                            "the others are %.4f mm apart" % (a.name, b.name, float(steps[same[0]]), base))
    multiples = np.diff(slots)
    # Like ITK's series reader: the spacing spans first to last position, so the volume's ends
    # are exactly where DICOM puts them even when steps wobble.
    spacing = float(relative[-1]) / int(slots[-1])
    off_grid = np.abs(relative - slots * spacing)  # how far each slice lands from its IPP
    worst = int(np.argmax(off_grid))
    if off_grid[worst] > placement_limit(spacing):
        raise GeometryError(
            "slice positions do not form a regular grid: %s lies %.4f mm from its place on a %.4f mm grid "
            "(%.4f mm along the normal; at most %.4f mm allowed), so no volume holds every slice where "
            "its (0020,0032) ImagePositionPatient puts it" % (
                slices[order[worst]].name, off_grid[worst], spacing, sorted_d[worst], placement_limit(spacing)))
    slice_order: List[Optional[int]] = [order[0]]
    gaps: List[str] = []
    for n, multiple in enumerate(multiples):
        if multiple >= 2:
            missing = multiple - 1
            gaps.append("%d slice%s after %s (%.3f mm)" % (
                missing, "s" if missing > 1 else "", slices[order[n]].name, sorted_d[n]))
            slice_order.extend([None] * missing)
        slice_order.append(order[n + 1])
    if gaps:
        count = sum(index is None for index in slice_order)
        plural = "s" if count > 1 else ""
        listed = "; ".join(gaps[:5]) + ("; … (%d places)" % len(gaps) if len(gaps) > 5 else "")
        if gap_policy == "fail":
            raise GeometryError("%d missing slice%s: %s" % (count, plural, listed))
        warnings.append("%d missing slice%s filled with background on the %.4f mm grid of the others: %s"
                        % (count, plural, spacing, listed))
    if off_grid[worst] > spacing_tolerance(spacing):
        warnings.append("slice spacing not uniform: slices placed on a regular %.4f mm grid, each within "
                        "%.4f mm of its ImagePositionPatient (%s the farthest)" % (
                            spacing, off_grid[worst], slices[order[worst]].name))
    shear = positions[order] - positions[order[0]] - np.outer(sorted_d - sorted_d[0], normal)
    max_shear = float(np.abs(shear).max())
    if max_shear > spacing_tolerance(max(spacing_rows, spacing_columns)):
        warnings.append("slices are sheared off the normal by up to %.3f mm (gantry tilt): placed along the "
                        "slice normal, as Slicer's reader places them unless its acquisition-geometry "
                        "regularization is on, so a voxel sits up to %.3f mm from where its slice's (0020,0032) "
                        "ImagePositionPatient puts it" % (max_shear, max_shear))
    thickness = first.slice_thickness
    if thickness is not None and abs(thickness - spacing) > spacing_tolerance(spacing):
        warnings.append("SliceThickness %g mm differs from the slice spacing %.4f mm found from "
                        "the positions; the positions are used" % (thickness, spacing))
    directions.append(tuple(normal * spacing))
    origin = tuple(float(v) for v in positions[order[0]])
    return CoreGeometry((first.columns, first.rows, len(slice_order)), origin,  # type: ignore
                        tuple(tuple(float(v) for v in d) for d in directions),
                        tuple(slice_order), tuple(warnings))


def check_consistent(slices: Sequence[SliceHeader]) -> None:
    """Every slice must share the image size, pixel format, pixel spacing and orientation."""
    first = slices[0]
    for attribute, tag in (("rows", "(0028,0010) Rows"), ("columns", "(0028,0011) Columns"),
                           ("samples_per_pixel", "(0028,0002) SamplesPerPixel"),
                           ("bits_allocated", "(0028,0100) BitsAllocated"),
                           ("bits_stored", "(0028,0101) BitsStored"),
                           ("pixel_representation", "(0028,0103) PixelRepresentation")):
        value = getattr(first, attribute)
        for other in slices[1:]:
            if getattr(other, attribute) != value:
                raise GeometryError("slices differ in %s: %s in %s, %s in %s" % (
                    tag, value, first.name, getattr(other, attribute), other.name))
    for attribute, tag in (("pixel_spacing", "(0028,0030) PixelSpacing"),
                           ("orientation", "(0020,0037) ImageOrientationPatient")):
        value = getattr(first, attribute)
        for other in slices[1:]:
            theirs = getattr(other, attribute)
            if theirs == value:
                continue  # the usual case, without numpy's cost per slice
            if (value is None) != (theirs is None) or (
                    value is not None and not np.allclose(value, theirs, rtol=0, atol=1e-4)):
                raise GeometryError("slices differ in %s: %s in %s, %s in %s" % (
                    tag, _short(value), first.name, _short(theirs), other.name))
    if first.samples_per_pixel != 1:
        raise GeometryError("%s: (0028,0002) SamplesPerPixel is %d; only grey-scale CT is supported"
                            % (first.name, first.samples_per_pixel))


def _pixel_spacing(header: SliceHeader) -> Tuple[float, float]:
    if header.pixel_spacing is None:
        raise GeometryError("%s: (0028,0030) PixelSpacing missing" % header.name)
    rows, columns = header.pixel_spacing
    if rows <= 0 or columns <= 0:
        raise GeometryError("%s: (0028,0030) PixelSpacing %s is not positive" % (header.name, [rows, columns]))
    return rows, columns


def _geometry_without_positions(slices: Sequence[SliceHeader]) -> CoreGeometry:
    """No slice has a position: order by Instance Number, axes LPS, spacing from the tags."""
    first = slices[0]
    if any(s.instance_number is None for s in slices):
        raise GeometryError("%s: no (0020,0032) ImagePositionPatient and no (0020,0013) "
                            "InstanceNumber; the slice order is unknown" % first.name)
    numbers = [s.instance_number for s in slices]
    if len(set(numbers)) != len(numbers):
        raise GeometryError("no (0020,0032) ImagePositionPatient and repeated InstanceNumber; "
                            "the slice order is unknown")
    order = sorted(range(len(slices)), key=lambda n: numbers[n])
    spacing_rows, spacing_columns = _pixel_spacing(first)
    step, source = _step_from_tags(first)
    orientation = first.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    row, column = np.array(orientation[:3]), np.array(orientation[3:6])
    directions = (tuple(row * spacing_columns), tuple(column * spacing_rows),
                  tuple(slice_normal(orientation) * step))
    warning = ("no (0020,0032) ImagePositionPatient: slices ordered by InstanceNumber, "
               "%g mm apart from %s, origin at 0" % (step, source))
    return CoreGeometry((first.columns, first.rows, len(slices)), (0.0, 0.0, 0.0),
                        tuple(tuple(float(v) for v in d) for d in directions), tuple(order), (warning,))


def _step_from_tags(header: SliceHeader) -> Tuple[float, str]:
    """The slice step when positions cannot give it, and which tag it came from (for the warning)."""
    if header.spacing_between_slices:
        return header.spacing_between_slices, "SpacingBetweenSlices"
    if header.slice_thickness:
        return header.slice_thickness, "SliceThickness"
    return 1.0, "neither tag (default 1 mm)"


def _short(value: object) -> str:
    if value is None:
        return "none"
    return "[%s]" % ", ".join("%g" % v for v in value)  # type: ignore


def _median(values: np.ndarray) -> float:
    """The median of a non-empty 1-D array.  Not ``np.median``: that imports ``numpy.ma`` on
    first use, 7 ms of every command's start-up for one number."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    return float((ordered[middle] + ordered[(len(ordered) - 1) // 2]) / 2)
