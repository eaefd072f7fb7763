"""A plane crossing a core, as the unwrap shows it — the conventions, stated once.

**The unwrap** (``unwrap/<core>_unwrap.nrrd``, :mod:`..analysis.unwrap`): row ``n`` is the
core's slice at ``z = (n + 0.5) × Δz`` mm from its top (the upper edge of row 0; with depths,
``depth_m = first_row_depth_m + n × Δz / 1000``, the header's ``unwrap_first_row_depth_m``);
column ``c`` of ``W`` is the angle θ = 360° × (c + 0.5) / W about the core axis, from the
slice's +i (column) direction toward its +j (row) direction; the samples lie at the radius
``r`` of the header (``unwrap_radius_mm``) about the fitted axis.

**A plane** crossing the axis at depth ``z₀`` with dip δ (the angle between its normal and the
core axis: 0° = square to the core) and dip azimuth ψ (the θ of its deepest side, "down-dip",
relative to the core's own θ = 0° until the core is oriented) meets that cylinder along

    z(θ) = z₀ + r · tan δ · cos(θ − ψ)          (z growing down the core)

— deepest at θ = ψ, shallowest opposite; the sinusoid's half peak-to-trough height is
``A = r · tan δ``.  Written linearly, z(θ) = z₀ + a·cos θ + b·sin θ with a = A·cos ψ,
b = A·sin ψ: the picker fits (z₀, a, b) and turns them into dip and azimuth here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..analysis.unwrap import FIRST_ROW_KEY, RADIUS_KEY
from ..nrrd.reader import NrrdHeader, read_header, read_rows


@dataclass(frozen=True)
class Sinusoid:
    """z(θ) = z0 + a·cos θ + b·sin θ, mm from the unwrap's top."""

    z0_mm: float
    a_mm: float
    b_mm: float

    @property
    def amplitude_mm(self) -> float:
        return math.hypot(self.a_mm, self.b_mm)

    def depth_mm(self, theta: np.ndarray) -> np.ndarray:
        return self.z0_mm + self.a_mm * np.cos(theta) + self.b_mm * np.sin(theta)

    def dip_deg(self, radius_mm: float) -> float:
        return math.degrees(math.atan(self.amplitude_mm / radius_mm))

    def azimuth_deg(self) -> float:
        """ψ, the θ of the deepest point (0 for a plane square to the core)."""
        return math.degrees(math.atan2(self.b_mm, self.a_mm)) % 360.0 if self.amplitude_mm > 0 else 0.0

    @classmethod
    def of_plane(cls, z0_mm: float, dip_deg: float, azimuth_deg: float, radius_mm: float) -> "Sinusoid":
        amplitude = radius_mm * math.tan(math.radians(dip_deg))
        psi = math.radians(azimuth_deg)
        return cls(z0_mm, amplitude * math.cos(psi), amplitude * math.sin(psi))


def column_angles(width: int) -> np.ndarray:
    """θ (radians) of the unwrap's columns: 2π × (c + 0.5) / W."""
    return 2.0 * math.pi * (np.arange(width) + 0.5) / width


@dataclass
class UnwrapImage:
    """One core's unwrap in memory (float32, rows × W, top first) with what its header says."""

    core: str
    values: np.ndarray
    row_mm: float
    radius_mm: float
    first_row_depth_m: Optional[float]  # the centre of row 0 in the well; None: no depths

    @property
    def theta(self) -> np.ndarray:
        return column_angles(self.values.shape[1])

    def depth_m(self, z_mm: float) -> Optional[float]:
        return well_depth_m(self.first_row_depth_m, self.row_mm, z_mm)


def well_depth_m(first_row_depth_m: Optional[float], row_mm: float, z_mm: float) -> Optional[float]:
    """The well depth of ``z_mm`` from the unwrap's top (the centre of row 0 at
    ``first_row_depth_m``), or None without depths."""
    if first_row_depth_m is None:
        return None
    return first_row_depth_m + (z_mm - row_mm / 2.0) / 1000.0


class UnwrapError(ValueError):
    """The unwrap cannot be read as one (the message names the file and what is wrong)."""


def read_unwrap(path: Path, core: str) -> UnwrapImage:
    """The unwrap at ``path``: values, row spacing, radius and first row's depth from its header."""
    header: NrrdHeader = read_header(path)
    if header.dimension != 2:
        raise UnwrapError("%s: not an unwrap (dimension %d, expected 2)" % (path, header.dimension))
    radius = header.key_values.get(RADIUS_KEY)
    if radius is None:
        raise UnwrapError("%s: no %s in its header: not an unwrap this project wrote" % (path, RADIUS_KEY))
    first = header.key_values.get(FIRST_ROW_KEY)
    columns, rows = header.sizes[0], header.sizes[1]
    values = read_rows(header, 0, rows).astype(np.float32)
    return UnwrapImage(core, values, float(header.spacing[1]), float(radius),
                       float(first) if first is not None else None)
