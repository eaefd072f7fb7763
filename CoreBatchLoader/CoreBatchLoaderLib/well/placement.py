"""Where a core goes in the well: its voxel grid moved to its depth, axis straight down.

A scan's own geometry says where the core lay on the scanner's table; in the well it hangs at
its depth.  Placing a core keeps its voxels and spacing and gives its grid a new position:

- the core axis is the scan's ``k`` axis (the slice normal); it points along −S, so depth grows
  downward, and the core's top voxel *edge* lies at S = −1000 × top (mm): the first slice
  centre is half a slice below the depth written in the depth table;
- by default slice ``k = 0`` (the smaller slice position) is the top; a *flipped* core has
  ``k = last`` at the top;
- in plane the core is centred on R = A = 0, ``i`` along +R.

The index frame stays right-handed (``det > 0``): unflipped ``i → +R, j → −A, k → −S``;
flipped ``i → +R, j → +A, k → +S``.  Both are rotations of the scan (no mirror image), and
Slicer reverses the slice order of NRRDs whose ``space directions`` have a negative determinant,
so a left-handed frame would load with different indices than the file has.

Grids are kept in LPS, as NRRD headers state them (RAS → LPS negates x and y).  Everything here
is plain arithmetic on numbers from the manifest: no file is read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

Vector = Tuple[float, float, float]


@dataclass(frozen=True)
class Grid:
    """A voxel grid as an NRRD header states it: sizes (i, j, k), step vectors and origin in LPS.

    ``origin_lps`` is the centre of voxel (0, 0, 0); ``directions_lps`` the step of i, j and k.
    """

    sizes: Tuple[int, int, int]
    directions_lps: Tuple[Vector, Vector, Vector]
    origin_lps: Vector

    @property
    def spacing(self) -> Vector:
        return tuple(float(np.linalg.norm(d)) for d in self.directions_lps)  # type: ignore[return-value]

    def ijk_to_ras(self) -> np.ndarray:
        """The 4×4 matrix Slicer's volume node holds for this grid."""
        matrix = np.eye(4)
        matrix[:3, :3] = np.array(self.directions_lps, dtype=np.float64).T
        matrix[:3, 3] = self.origin_lps
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ matrix

    def ras_bounds(self) -> np.ndarray:
        """(3, 2) array: min and max R, A, S of the voxel *edges* (centres ± half a step)."""
        matrix = self.ijk_to_ras()
        corners = np.array([[i, j, k, 1.0] for i in (-0.5, self.sizes[0] - 0.5)
                            for j in (-0.5, self.sizes[1] - 0.5) for k in (-0.5, self.sizes[2] - 0.5)]).T
        points = (matrix @ corners)[:3]
        return np.stack([points.min(axis=1), points.max(axis=1)], axis=1)

    def s_range(self) -> Tuple[float, float]:
        """(bottom, top) S of the voxel edges, mm."""
        bounds = self.ras_bounds()
        return float(bounds[2, 0]), float(bounds[2, 1])


def depth_to_s(depth_m: float) -> float:
    """S coordinate (mm) of a depth along the hole (m): depth grows downward."""
    return -1000.0 * depth_m


def place_core(sizes: Sequence[int], spacing: Sequence[float], top_m: float, flip: bool = False) -> Grid:
    """The grid of a core of ``sizes`` voxels and ``spacing`` mm hung with its top at ``top_m``."""
    columns, rows, slices = (int(v) for v in sizes)
    s_i, s_j, s_k = (float(v) for v in spacing)
    top_s = depth_to_s(top_m)
    r0 = -(columns - 1) / 2.0 * s_i  # i → +R, centred on R = 0
    if not flip:  # k = 0 on top: i → +R, j → −A, k → −S
        ras = ((s_i, 0.0, 0.0), (0.0, -s_j, 0.0), (0.0, 0.0, -s_k))
        origin_ras = (r0, (rows - 1) / 2.0 * s_j, top_s - s_k / 2.0)
    else:  # k = last on top: i → +R, j → +A, k → +S (a half turn about R)
        ras = ((s_i, 0.0, 0.0), (0.0, s_j, 0.0), (0.0, 0.0, s_k))
        origin_ras = (r0, -(rows - 1) / 2.0 * s_j, top_s - s_k / 2.0 - (slices - 1) * s_k)
    return Grid((columns, rows, slices), tuple(ras_to_lps(d) for d in ras), ras_to_lps(origin_ras))  # type: ignore[arg-type]


def blocks(size: int, factor: int) -> int:
    """Blocks of ``factor`` voxels needed to cover ``size`` voxels (the last may be partial)."""
    return -(-int(size) // int(factor))


def block_padding(sizes: Sequence[int], factor: int, flip: bool) -> Tuple[int, int, int]:
    """Voxels of padding *before* index 0 on each axis when cutting the grid into blocks.

    A size that ``factor`` does not divide leaves one partial block.  Along the core axis it goes
    to the bottom end, so the top of a downsampled core stays exactly at its depth: after index
    ``last`` for an unflipped core (no padding before), before index 0 for a flipped one.  In
    plane the padding is split, so the core stays centred on the axis within half a voxel.
    """
    pads = [blocks(n, factor) * factor - int(n) for n in sizes]
    return pads[0] // 2, pads[1] // 2, pads[2] if flip else 0


def block_grid(grid: Grid, factor: int, padding: Sequence[int]) -> Grid:
    """The grid of ``grid`` averaged in blocks of ``factor`` voxels per axis.

    Block ``b`` covers indices ``b·factor − pad … (b+1)·factor − pad − 1``; its centre is the
    centre of those ``factor`` positions, so every block lies where its voxels were.
    """
    directions = np.array(grid.directions_lps, dtype=np.float64)
    shift = sum((-padding[n] + (factor - 1) / 2.0) * directions[n] for n in range(3))
    origin = np.array(grid.origin_lps, dtype=np.float64) + shift
    sizes = tuple(blocks(n, factor) for n in grid.sizes)
    return Grid(sizes, tuple(_vector(d * factor) for d in directions),  # type: ignore[arg-type]
                _vector(origin))


def ras_to_lps(ras: Sequence[float]) -> Vector:
    """RAS → LPS (NRRD headers are LPS; Slicer nodes RAS): negate x and y."""
    return (-float(ras[0]) + 0.0, -float(ras[1]) + 0.0, float(ras[2]))


def _vector(values: Sequence[float]) -> Vector:
    return (float(values[0]), float(values[1]), float(values[2]))


def place_unwrap(sizes: Sequence[int], spacing: Sequence[float], top_m: float, left_r_mm: float) -> Grid:
    """The grid of a core's unwrap (``sizes`` columns × rows, ``spacing`` mm of arc × mm per row)
    hung as a vertical plane at its core's depth, its left edge at R = ``left_r_mm``.

    Row 0 is the top of the core (the unwrap is written top first, flipped or not), its top edge
    at S = −1000 × top; columns run along +R, rows down (−S), the one slice faces +A: the
    coronal plane A = 0, where a slice view through the cores shows their sections beside
    their unwraps.  Right-handed, as :func:`place_core`'s grids.
    """
    columns, rows = (int(v) for v in sizes[:2])
    arc, row = (float(v) for v in spacing[:2])
    ras = ((arc, 0.0, 0.0), (0.0, 0.0, -row), (0.0, 1.0, 0.0))
    origin_ras = (float(left_r_mm) + arc / 2.0, 0.0, depth_to_s(top_m) - row / 2.0)
    return Grid((columns, rows, 1), tuple(ras_to_lps(d) for d in ras), ras_to_lps(origin_ras))  # type: ignore[arg-type]
