"""A core crossed by a planar bed of known dip and dip direction: the unwrap's phantom.

What a geologist reads from an unwrapped core is a sinusoid: a plane crossing a cylinder of
radius r at dip δ (from the plane square to the core axis) is, on the unwrap, the curve
depth(θ) = d₀ + r·tan δ·cos(θ − ψ) (depth growing down the core), deepest at θ = ψ, the dip
direction (the convention is stated once, in :mod:`CoreBatchLoaderLib.planes.sinusoid`).  This phantom makes
that answer known, in the awkward setting real scans have: the core off the image centre,
lying on the low side of a plastic liner with a gap of about a voxel, its axis tilted a few
degrees to the scan axis, and optionally flipped (scanned bottom first).

Everything is defined in the core's own frame, as a geologist describes a core: down the core
is ``a`` (from its top to its bottom), the bed's dip δ is its angle to the plane square to
``a``, and its dip direction ψ is the angle, in the slice plane, from the slice's +i toward
its +j direction, of the side where the bed lies deepest (the unwrap's convention,
:mod:`CoreBatchLoaderLib.analysis.unwrap`).  The bed: a dark layer (:data:`BED_HU`) of
``bed_mm`` through the core's middle in bright rock (:data:`ROCK_HU`), with noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

from .cores import _series_uids, _write_single_frames
from .dicom_files import PathLike, SyntheticSeries, _make_format, _make_geometry, _Slice

AIR_HU, LINER_HU, ROCK_HU, BED_HU = -1000.0, 350.0, 2300.0, 1300.0
END_CAP_HU = -100.0  # a polyethylene end cap (as :mod:`.phantoms`)
END_KINDS = ("air", "rounded", "cap")


def core_frame(axis_direction: np.ndarray, flip: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(down, across, third): down the core (from its top to its bottom), and the directions of
    θ = 0° and θ = 90° about the axis — the slice's +i and +j made square to the axis (the
    unwrap's angle convention)."""
    axis = np.asarray(axis_direction, dtype=np.float64)
    down = -axis if flip else axis
    across = np.array([1.0, 0.0, 0.0]) - axis[0] * axis
    across /= np.linalg.norm(across)
    return down, across, np.cross(axis, across)


def plane_normal(frame: Tuple[np.ndarray, np.ndarray, np.ndarray], dip_deg: float,
                 dip_direction_deg: float) -> np.ndarray:
    """The unit normal (its down component positive) of a plane of dip δ whose deepest side is at
    θ = ψ: points of the plane through the axis at depth 0 lie at depth r·tan δ·cos(θ − ψ)."""
    down, across, third = frame
    psi, dip = math.radians(dip_direction_deg), math.radians(dip_deg)
    toward_dip = math.cos(psi) * across + math.sin(psi) * third
    return math.cos(dip) * down - math.sin(dip) * toward_dip


@dataclass(frozen=True)
class DippingBeds:
    """The phantom's truth (mm and degrees; x, y, z = the slices' own millimetres i·Δi, j·Δj, k·Δk)."""

    dip_deg: float
    dip_direction_deg: float
    core_radius_mm: float
    axis_point: Tuple[float, float, float]  # the axis at the core's middle
    axis_direction: Tuple[float, float, float]  # unit, toward +k
    flip: bool  # the core's top is at the last slice
    liner_centre: Tuple[float, float]
    liner_radii_mm: Tuple[float, float]  # inner, outer
    bed_mm: float
    bed_spacing_mm: Optional[float] = None  # parallel beds this far apart; None: one bed
    start_mm: Optional[float] = None  # the core's first end, along the axis from axis_point (None: beyond the scan)
    end: str = "air"  # before it: "air"; "rounded" (a dome over end_mm, the section growing from nothing);
    end_mm: float = 0.0  # "cap" (a polyethylene cap of end_mm filling the liner's bore, air before it)

    def hu(self, z: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The CT numbers of the plane ``z`` at (x, y), without noise."""
        axis, point = np.array(self.axis_direction), np.array(self.axis_point)
        rel = np.stack([x - point[0], y - point[1], np.full_like(x, z - point[2])], axis=-1)
        along = rel @ axis
        off_axis = np.linalg.norm(rel - along[..., None] * axis, axis=-1)
        normal = plane_normal(core_frame(axis, self.flip), self.dip_deg, self.dip_direction_deg)
        across_beds = rel @ normal
        if self.bed_spacing_mm:
            across_beds = (across_beds + self.bed_spacing_mm / 2.0) % self.bed_spacing_mm - self.bed_spacing_mm / 2.0
        in_bed = np.abs(across_beds) <= self.bed_mm / 2.0
        liner_r = np.hypot(x - self.liner_centre[0], y - self.liner_centre[1])
        values = np.full(x.shape, AIR_HU)
        values[(liner_r >= self.liner_radii_mm[0]) & (liner_r <= self.liner_radii_mm[1])] = LINER_HU
        if self.start_mm is None:
            rock = off_axis <= self.core_radius_mm
        else:  # the core's end within the scan: air, a partial (rounded) end or a cap before the full section
            into = along - self.start_mm
            radius = np.full(x.shape, self.core_radius_mm)
            if self.end == "rounded" and self.end_mm > 0:
                dome = np.clip(1.0 - into / self.end_mm, 0.0, 1.0)
                radius = self.core_radius_mm * np.sqrt(np.clip(1.0 - dome * dome, 0.0, None))
            rock = (off_axis <= radius) & (into >= 0.0)
            if self.end == "cap" and self.end_mm > 0:
                values[(liner_r < self.liner_radii_mm[0]) & (into < 0.0) & (into >= -self.end_mm)] = END_CAP_HU
        values[rock] = np.where(in_bed[rock], BED_HU, ROCK_HU)
        return values


def write_dipping_bed_core(folder: PathLike, *, dip_deg: float = 30.0, dip_direction_deg: float = 120.0,
                           tilt_deg: float = 3.0, tilt_azimuth_deg: float = 30.0, flip: bool = False,
                           core_radius_mm: float = 22.0, rows: int = 128, columns: int = 128, slices: int = 100,
                           pixel_spacing: Tuple[float, float] = (0.5, 0.5), slice_spacing: float = 0.5,
                           origin: Tuple[float, float, float] = (-30.0, -40.0, 100.0), noise_hu: float = 30.0,
                           series_number: int = 1, seed: int = 0, bed_mm: float = 4.0,
                           bed_spacing_mm: Optional[float] = None, lead_mm: float = 0.0, end: str = "air",
                           end_mm: float = 0.0) -> Tuple[SyntheticSeries, DippingBeds]:
    """Write the phantom as a CT series in ``folder``; returns the series and its truth.

    ``lead_mm`` > 0: the scan starts before the core, as real scans do — the core's first end
    lies ``lead_mm`` along its axis from where the axis crosses slice 0, and before it
    ``end`` (:data:`END_KINDS`): air, a rounded end (a dome over ``end_mm`` at the start of the
    core, the sections growing from nothing to the full one) or a plastic end cap of ``end_mm``.

    The liner (inner radius core + 3.5 mm, 2.5 mm wall) is centred 3 mm left of and 2 mm
    below the image centre; the core lies 1.5 mm off the liner's centre toward +j, its axis
    tilted ``tilt_deg`` toward ``tilt_azimuth_deg`` (from +i toward +j).
    """
    row_mm, column_mm = pixel_spacing
    liner_centre = ((columns - 1) / 2.0 * column_mm - 3.0, (rows - 1) / 2.0 * row_mm + 2.0)
    tilt, azimuth = math.radians(tilt_deg), math.radians(tilt_azimuth_deg)
    truth = DippingBeds(
        dip_deg=dip_deg, dip_direction_deg=dip_direction_deg, core_radius_mm=core_radius_mm,
        axis_point=(liner_centre[0], liner_centre[1] + 1.5, (slices - 1) / 2.0 * slice_spacing),
        axis_direction=(math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), math.cos(tilt)),
        flip=flip, liner_centre=liner_centre, liner_radii_mm=(core_radius_mm + 3.5, core_radius_mm + 6.0),
        bed_mm=bed_mm, bed_spacing_mm=bed_spacing_mm,
        start_mm=None if lead_mm <= 0 else lead_mm - (slices - 1) / 2.0 * slice_spacing / math.cos(tilt),
        end=end, end_mm=end_mm)
    if end not in END_KINDS:
        raise ValueError("end %r: one of %s" % (end, ", ".join(END_KINDS)))
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float64)
    x, y = x * column_mm, y * row_mm

    def slice_hu(k: int) -> np.ndarray:
        rng = np.random.default_rng([seed, k])
        return truth.hu(k * slice_spacing, x, y) + rng.normal(0.0, noise_hu, size=x.shape)

    series = write_ct_series(folder, slice_hu, slices, pixel_spacing, slice_spacing, origin, series_number, seed)
    return series, truth


def write_ct_series(folder: PathLike, slice_hu: Callable[[int], np.ndarray], slices: int,
                    pixel_spacing: Tuple[float, float], slice_spacing: float, origin: Tuple[float, float, float],
                    series_number: int, seed: int) -> SyntheticSeries:
    """A phantom's slices (``slice_hu(k)``: CT numbers, rows × columns) as an axial signed 16-bit
    CT series of one file a slice in ``folder``."""
    geometry = _make_geometry(pixel_spacing, slice_spacing, origin, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    fmt = _make_format(True, 16, None)
    by_index = {}
    for k in range(slices):
        pixels = np.clip(np.rint(slice_hu(k)), fmt.low, fmt.high).astype(fmt.dtype)
        by_index[k] = _Slice(k=k, copy=0, pixels=pixels, slope=1.0, intercept=0.0)
    uids = _series_uids(seed, series_number, None, None)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files = _write_single_frames(out, by_index, [(k, 0) for k in range(slices)], geometry, fmt, uids,
                                 series_number, "CORE", slice_spacing, "1.2.840.10008.1.2.1", False, seed, "IM",
                                 ".dcm")
    stored = np.stack([by_index[k].pixels for k in range(slices)])
    return SyntheticSeries(folder=out, files=files, stored=stored, values=stored.astype(np.float64),
                           origin_lps=geometry.position(0), directions_lps=geometry.directions(),
                           series_uid=uids["series"])
