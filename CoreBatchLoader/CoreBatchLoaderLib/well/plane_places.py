"""Where each picked plane lies in the well: its centre and normal in the scene (RAS), in its
core's placed volume (:func:`.placement.place_core`).

A plane crosses the core's fitted axis (the manifest's ``axis_point_lps``/``axis_direction_lps``,
which the unwrap follows) at the slice of its depth (:mod:`..planes.sinusoid`: row n is slice n,
or slice last − n for a flipped core).  Its normal is built in the unwrap's frame — down the
core, θ = 0° the slices' +i made square to the axis, θ = 90° toward +j — from its dip δ and
dip azimuth ψ: n = cos δ · down − sin δ · (cos ψ · e₀ + sin ψ · e₉₀), so the plane's deepest side
lies at θ = ψ.  Both are taken from the scan's voxel frame to the placed grid's, then LPS → RAS
as Slicer's nodes hold them.  Plain arithmetic: no file is read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..analysis.unwrap_finish import SliceAxis
from ..planes.pick import Plane
from ..record import CoreRecord
from .placement import place_core

Vector = Tuple[float, float, float]


@dataclass(frozen=True)
class PlacedPlane:
    """One plane as the scene shows it."""

    core: str
    name: str  # "<core> plane <n> (<kind>, <dip>°/<azimuth>°)"
    centre_ras: Vector
    normal_ras: Vector  # unit, pointing down the core's side (its S component < 0 for a gentle dip)
    dip_direction_ras: Vector  # unit, in the plane, toward its deepest side
    size_mm: Tuple[float, float]  # across, along the dip direction: about the core's section by the plane
    kind: str
    dip_deg: float
    azimuth_deg: float


def plane_name(core: str, number: int, plane: Plane) -> str:
    """The node's name: its number in the core's table, kind, dip and azimuth to the degree (of
    the table's values, so the two never round apart)."""
    return "%s plane %d (%s, %.0f°/%.0f°)" % (core, number, plane.kind, round(plane.dip_deg, 1),
                                             round(plane.azimuth_deg, 1) % 360.0)


def place_planes(record: CoreRecord, planes: Sequence[Plane], top_m: float, flip: bool, row_mm: float,
                 radius_mm: float) -> Optional[List[PlacedPlane]]:
    """The scene's places of one core's ``planes`` (numbered from 1 in the given order), or
    None when the manifest has no fitted axis for the core (converted with ``--no-ct-log``
    and without an unwrap's own fit kept)."""
    if not (record.axis_point_lps and record.axis_direction_lps and record.dimensions and record.spacing
            and record.origin_lps and record.directions_lps):
        return None
    axis = SliceAxis.from_lps(record.axis_point_lps, record.axis_direction_lps, record.origin_lps,
                              record.directions_lps)
    spacing = np.array(record.spacing, dtype=np.float64)
    slices = int(record.dimensions[2])
    grid = place_core(record.dimensions, record.spacing, top_m, flip)
    steps = np.array(grid.directions_lps, dtype=np.float64)  # rows: the i, j, k steps
    units = steps / np.linalg.norm(steps, axis=1)[:, None]
    to_ras = np.array([-1.0, -1.0, 1.0])
    a = np.array(axis.direction)
    down = -a if flip else a
    across = np.array([1.0, 0.0, 0.0]) - a[0] * a
    across /= np.linalg.norm(across)
    third = np.cross(a, across)
    placed = []
    for number, plane in enumerate(planes, start=1):
        row = plane.depth_mm / row_mm - 0.5
        k = (slices - 1) - row if flip else row
        point_mm = axis.at_z(k * spacing[2])  # x, y, z = i·Δi, j·Δj, k·Δk
        centre = np.array(grid.origin_lps) + (point_mm / spacing) @ steps
        dip, psi = math.radians(plane.dip_deg), math.radians(plane.azimuth_deg)
        toward = math.cos(psi) * across + math.sin(psi) * third
        normal = math.cos(dip) * down - math.sin(dip) * toward
        dip_direction = math.sin(dip) * down + math.cos(dip) * toward  # in the plane, downward
        size = (2.0 * radius_mm, 2.0 * radius_mm / max(math.cos(dip), 0.2))
        placed.append(PlacedPlane(record.name, plane_name(record.name, number, plane), _v(centre * to_ras),
                                  _v((normal @ units) * to_ras), _v((dip_direction @ units) * to_ras), size,
                                  plane.kind, plane.dip_deg, plane.azimuth_deg))
    return placed


def _v(values: np.ndarray) -> Vector:
    return (float(values[0]), float(values[1]), float(values[2]))
