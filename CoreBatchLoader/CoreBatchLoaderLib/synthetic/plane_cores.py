"""Cores crossed by known planes — dense beds, open fractures, crossing ones — and by things that
are not planes (a dense nodule, a vug): the plane picker's phantoms (:mod:`CoreBatchLoaderLib.planes`).

Built as real scans are: the core shorter than the scan (air beyond its ends), lying on the low
(+j) side of a plastic liner with a gap of about a voxel, core and liner tilted together a few
degrees to the scan axis, optionally flipped (scanned bottom first), the rock textured (white
noise plus a mottle a few millimetres across).  Each plane is given as the picker reports it, in
the unwrap's frame and conventions (:mod:`CoreBatchLoaderLib.planes.sinusoid`): the depth where it
crosses the core axis in mm from the unwrap's top (the upper edge of row 0), its dip from the
plane square to the axis, and the angle θ of its deepest side (:func:`.dipping_beds.plane_normal`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from .dicom_files import PathLike, SyntheticSeries
from .dipping_beds import AIR_HU, LINER_HU, core_frame, plane_normal, write_ct_series


@dataclass(frozen=True)
class PlaneTruth:
    """One planar feature: a bed (``contrast_hu`` > 0) or an open fracture (filled with air)."""

    depth_mm: float  # where it crosses the core axis, from the unwrap's top
    dip_deg: float
    azimuth_deg: float  # θ of its deepest side
    thickness_mm: float  # across the plane (a fracture's aperture)
    contrast_hu: float  # the feature's CT number minus the rock's
    kind: str = "bed"  # "bed" or "fracture"


@dataclass(frozen=True)
class Blob:
    """A sphere that is not a plane: a dense nodule or a vug, centred off the axis."""

    depth_mm: float
    theta_deg: float
    off_axis_mm: float
    radius_mm: float
    contrast_hu: float


@dataclass(frozen=True)
class PlaneCore:
    """A phantom core and its truth (mm, degrees; x, y, z = the slices' own i·Δi, j·Δj, k·Δk)."""

    planes: Tuple[PlaneTruth, ...] = ()
    blobs: Tuple[Blob, ...] = ()
    slices: int = 800
    size: int = 220  # rows and columns
    spacing_mm: float = 0.5  # pixels and slices
    core_radius_mm: float = 32.0
    ends_mm: Tuple[float, float] = (6.0, 6.0)  # air in the scan above and below the core
    tilt_deg: float = 2.0
    tilt_azimuth_deg: float = 30.0
    flip: bool = False
    rock_hu: float = 1800.0
    noise_hu: float = 40.0
    texture_hu: float = 60.0
    texture_mm: float = 2.0
    seed: int = 0
    notes: Tuple[str, ...] = field(default=())

    @property
    def axis_direction(self) -> np.ndarray:
        tilt, azimuth = math.radians(self.tilt_deg), math.radians(self.tilt_azimuth_deg)
        return np.array([math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), math.cos(tilt)])

    @property
    def axis_point(self) -> np.ndarray:
        """The axis at the scan's middle slice: the image centre, 2 mm toward +j (the low side)."""
        middle = (self.size - 1) / 2.0 * self.spacing_mm
        return np.array([middle, middle + 2.0, (self.slices - 1) / 2.0 * self.spacing_mm])

    def axis_at_depth(self, depth_mm: float) -> np.ndarray:
        """The point of the axis in the row ``depth_mm`` from the unwrap's top (row n ↔ slice n,
        or slice last − n for a flipped core)."""
        z = depth_mm - self.spacing_mm / 2.0
        if self.flip:
            z = (self.slices - 1) * self.spacing_mm - z
        point, axis = self.axis_point, self.axis_direction
        return point + (z - point[2]) / axis[2] * axis

    def hu(self, k: int, x: np.ndarray, y: np.ndarray, texture: np.ndarray) -> np.ndarray:
        """CT numbers of slice ``k`` at (x, y) mm, ``texture`` the rock's variation there
        (component by component over 2-D arrays: a slice in about a millisecond)."""
        axis = self.axis_direction
        down, across, third = core_frame(axis, self.flip)
        top = self.axis_at_depth(0.0)
        dx, dy, dz = x - top[0], y - top[1], k * self.spacing_mm - top[2]
        along = dx * axis[0] + dy * axis[1] + dz * axis[2]
        off_axis = np.sqrt(np.maximum(dx * dx + dy * dy + dz * dz - along * along, 0.0))
        lx, ly = dx - along * axis[0], dy + 2.0 - along * axis[1]  # the liner's axis 2 mm toward −j
        lz = dz - along * axis[2]
        liner = np.sqrt(lx * lx + ly * ly + lz * lz)
        inner = self.core_radius_mm + 2.5
        values = np.full(x.shape, AIR_HU)
        values[(liner >= inner) & (liner <= inner + 2.5)] = LINER_HU
        depth = dx * down[0] + dy * down[1] + dz * down[2]
        length = self.slices * self.spacing_mm
        rock = (off_axis <= self.core_radius_mm) & (depth >= self.ends_mm[0]) & (depth <= length - self.ends_mm[1])
        px, py = dx[rock], dy[rock]
        inside = self.rock_hu + texture[rock]
        for plane in self.planes:
            normal = plane_normal((down, across, third), plane.dip_deg, plane.azimuth_deg)
            c = self.axis_at_depth(plane.depth_mm) - top
            across_plane = (px - c[0]) * normal[0] + (py - c[1]) * normal[1] + (dz - c[2]) * normal[2]
            inside[np.abs(across_plane) <= plane.thickness_mm / 2.0] = self.rock_hu + plane.contrast_hu
        for blob in self.blobs:
            theta = math.radians(blob.theta_deg)
            c = (self.axis_at_depth(blob.depth_mm) - top + blob.off_axis_mm *
                 (math.cos(theta) * across + math.sin(theta) * third))
            if abs(dz - c[2]) <= blob.radius_mm:
                inside[(px - c[0]) ** 2 + (py - c[1]) ** 2 + (dz - c[2]) ** 2 <= blob.radius_mm ** 2] = \
                    self.rock_hu + blob.contrast_hu
        values[rock] = inside
        return values


class _Texture:
    """The rock's mottle: Gaussian values on a coarse grid ``texture_mm`` apart, linear between."""

    def __init__(self, core: PlaneCore) -> None:
        self.step = core.texture_mm / core.spacing_mm  # pixels between grid points
        coarse = int(math.ceil(core.size / self.step)) + 2
        layers = int(math.ceil(core.slices / self.step)) + 2
        self.grid = np.random.default_rng([core.seed, 7]).normal(0.0, core.texture_hu, (layers, coarse, coarse))
        place = np.arange(core.size) / self.step
        self.low = place.astype(int)
        self.weight = (place - self.low)[:, None]

    def at(self, k: int) -> np.ndarray:
        place = k / self.step
        low = int(place)
        layer = self.grid[low] * (1.0 - (place - low)) + self.grid[low + 1] * (place - low)
        rows = layer[self.low] * (1.0 - self.weight) + layer[self.low + 1] * self.weight
        return rows[:, self.low] * (1.0 - self.weight.T) + rows[:, self.low + 1] * self.weight.T


def write_plane_core(folder: PathLike, core: PlaneCore, series_number: int = 1) -> SyntheticSeries:
    """Write ``core`` as an axial CT series (one file a slice) in ``folder``."""
    coordinates = np.arange(core.size, dtype=np.float64) * core.spacing_mm
    x, y = np.meshgrid(coordinates, coordinates)
    texture = _Texture(core)

    def slice_hu(k: int) -> np.ndarray:
        noise = np.random.default_rng([core.seed, k]).normal(0.0, core.noise_hu, size=x.shape)
        return core.hu(k, x, y, texture.at(k)) + noise

    origin = (-core.size * core.spacing_mm / 2.0, -core.size * core.spacing_mm / 2.0, 0.0)
    return write_ct_series(folder, slice_hu, core.slices, (core.spacing_mm, core.spacing_mm), core.spacing_mm,
                           origin, series_number, core.seed)


def plane_well() -> List[Tuple[str, PlaneCore]]:
    """Four cores of 0.4 m: twelve planes (dips 5°–70°, dense beds 3–6 mm of +300…+800 HU, open
    fractures ~1 mm, two pairs crossing) in three cores tilted 1–3° (one flipped), and a core
    with only a dense nodule and a small vug."""
    bed, fracture = "bed", "fracture"
    air = AIR_HU - 1800.0
    return [
        ("core_a", PlaneCore(planes=(
            PlaneTruth(60.0, 5.0, 40.0, 4.0, 500.0, bed),
            PlaneTruth(130.0, 25.0, 200.0, 1.0, air, fracture),
            PlaneTruth(200.0, 45.0, 300.0, 6.0, 300.0, bed),
            PlaneTruth(215.0, 60.0, 100.0, 1.0, air, fracture),  # crosses the bed above
            PlaneTruth(330.0, 15.0, 150.0, 3.0, 800.0, bed)), tilt_deg=2.0, tilt_azimuth_deg=30.0, seed=1)),
        ("core_b", PlaneCore(planes=(
            PlaneTruth(80.0, 10.0, 0.0, 1.0, air, fracture),
            PlaneTruth(200.0, 70.0, 250.0, 5.0, 400.0, bed),
            PlaneTruth(330.0, 35.0, 80.0, 3.0, 600.0, bed)), tilt_deg=3.0, tilt_azimuth_deg=200.0, flip=True,
            seed=2)),
        ("core_c", PlaneCore(planes=(
            PlaneTruth(70.0, 20.0, 330.0, 4.0, 350.0, bed),
            PlaneTruth(175.0, 50.0, 20.0, 1.2, air, fracture),
            PlaneTruth(200.0, 8.0, 180.0, 5.0, 700.0, bed),  # crosses the fracture above
            PlaneTruth(330.0, 30.0, 120.0, 1.0, air, fracture)), tilt_deg=1.0, tilt_azimuth_deg=300.0, seed=3)),
        ("core_d", PlaneCore(blobs=(
            Blob(150.0, 60.0, 24.0, 7.0, 1200.0),  # a dense nodule cut by the unwrap's cylinder
            Blob(270.0, 220.0, 28.0, 3.0, air)), tilt_deg=2.0, tilt_azimuth_deg=120.0, seed=4)),
    ]


def write_plane_well(root: PathLike, cores: Sequence[Tuple[str, PlaneCore]]) -> List[SyntheticSeries]:
    """Each core in a folder of its name under ``root`` (a well for ``convert``)."""
    return [write_plane_core(Path(root) / name, core, series_number=n + 1) for n, (name, core) in enumerate(cores)]
