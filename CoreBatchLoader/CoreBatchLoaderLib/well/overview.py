"""The whole cored interval as one small volume: "<well> overview".

Loading the well core by core shows no gaps and no trends; the overview is one volume from the
top of the shallowest core to the bottom of the deepest, each core at its depth, the intervals
nobody cored left as background.  Its voxels are cubes of ``voxel_mm`` (the same in every
direction, so it looks right in 3-D), chosen as the smallest round size that keeps it under
a voxel count: it is a map of the well, the cores themselves carry the detail.

Each overview voxel is the mean of the core voxels whose centres fall inside it (a block mean
on the overview's grid, which need not line up with any core's grid).  Cores stream through
slice by slice: a slice adds its voxels into one overview layer with one ``np.bincount``, so
memory is the overview's sums and counts (8 bytes per overview voxel) and one slice.

Empty voxels (gaps between cores, the corners beyond a core's square slices) get the smallest
voxel value seen in the cores: air outside the core is already that dark, so a gap reads as
"nothing here" in any window, and the value is representable in the cores' type (a fixed
−1000 is not, for unsigned micro-CT data).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..dicom.voxel_values import NRRD_TYPES
from ..nrrd.writer import NrrdStreamWriter
from .placement import Grid, ras_to_lps
from .proxies import cast_mean

MAX_VOXELS = 4_000_000  # 8 MB in int16; sums and counts while building: 32 MB


def overview_grid(core_grids: Sequence[Grid], top_s: float, bottom_s: float, max_voxels: int = MAX_VOXELS) -> Grid:
    """A grid of cubic voxels covering every core in plane and ``top_s``…``bottom_s`` in S.

    Axes as an unflipped core (i → +R, j → −A, k → −S: right-handed, top slice first), centred
    on R = A = 0; the top voxel edge lies exactly at ``top_s``, the bottom at most one voxel
    below ``bottom_s``.  The voxel size is the smallest two-significant-digit number of mm that
    keeps the voxel count under ``max_voxels`` (and not finer than the finest core voxel).
    """
    bounds = [g.ras_bounds() for g in core_grids]
    width = max(max(abs(b[0]).max(), abs(b[1]).max()) for b in bounds) * 2.0
    length = top_s - bottom_s
    if not (width > 0 and length > 0):
        raise ValueError("the cores span no volume (width %g mm, length %g mm)" % (width, length))
    finest = min(min(g.spacing) for g in core_grids)
    voxel = max(finest, (width * width * length / max(1, max_voxels)) ** (1.0 / 3.0))
    voxel = _round_up(voxel)
    while _count(width, length, voxel) > max_voxels and voxel < max(width, length):
        voxel = _round_up(voxel * 1.01)
    across = max(1, math.ceil(width / voxel - 1e-9))
    down = max(1, math.ceil(length / voxel - 1e-9))
    ras = ((voxel, 0.0, 0.0), (0.0, -voxel, 0.0), (0.0, 0.0, -voxel))
    origin = (-(across - 1) / 2.0 * voxel, (across - 1) / 2.0 * voxel, top_s - voxel / 2.0)
    return Grid((across, across, down), tuple(ras_to_lps(d) for d in ras), ras_to_lps(origin))  # type: ignore[arg-type]


def _count(width: float, length: float, voxel: float) -> int:
    return math.ceil(width / voxel) ** 2 * math.ceil(length / voxel)


def _round_up(value: float) -> float:
    """The smallest number with two significant digits that is ≥ ``value`` (7.43 → 7.5)."""
    exponent = math.floor(math.log10(value)) - 1
    step = 10.0 ** exponent
    return round(math.ceil(value / step - 1e-9) * step, max(0, -exponent))


class Overview:
    """Sums and counts on the overview grid; cores are added through :meth:`core`."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        across_i, across_j, down = grid.sizes
        # float32 sums: each voxel gets one addition per core slice in its layer (tens), so the
        # rounding stays near 1e-6 of the value, at half the memory of float64
        self._sums = np.zeros((down, across_j * across_i), dtype=np.float32)
        self._counts = np.zeros((down, across_j * across_i), dtype=np.uint32)
        self.minimum: Optional[float] = None
        ras = grid.ijk_to_ras()
        self._voxel = float(ras[0, 0])
        self._r_edge = float(ras[0, 3]) - self._voxel / 2.0  # R of the i = 0 edge (i → +R)
        self._a_edge = float(ras[1, 3]) + self._voxel / 2.0  # A of the j = 0 edge (j → −A)
        self._s_edge = float(ras[2, 3]) + self._voxel / 2.0  # S of the k = 0 edge (k → −S)

    @property
    def bins_per_layer(self) -> int:
        return self._sums.shape[1]

    def core(self, placed: Grid) -> "CoreLayers":
        """A consumer for one core's slices, in the core's file order k = 0, 1, …"""
        return CoreLayers(self, placed)

    def bins(self, placed: Grid) -> tuple:
        """(flat in-plane bin of each voxel (rows, columns), layer of each slice) for a placed
        core whose axes lie along R, A and S (as :func:`.placement.place_core` makes them)."""
        ras = placed.ijk_to_ras()
        columns, rows, slices = placed.sizes
        r = ras[0, 3] + ras[0, 0] * np.arange(columns)
        a = ras[1, 3] + ras[1, 1] * np.arange(rows)
        s = ras[2, 3] + ras[2, 2] * np.arange(slices)
        across_i, across_j, down = self.grid.sizes
        x = np.clip(np.floor((r - self._r_edge) / self._voxel), 0, across_i - 1).astype(np.int64)
        y = np.clip(np.floor((self._a_edge - a) / self._voxel), 0, across_j - 1).astype(np.int64)
        z = np.floor((self._s_edge - s) / self._voxel).astype(np.int64)
        return y[:, None] * across_i + x[None, :], z

    def add_slices(self, layer: int, sums: np.ndarray, touched: np.ndarray, pixel_counts: np.ndarray,
                   low: float) -> None:
        """Add the sums of a core's slices that fall into ``layer`` over the bins they ``touched``
        (indices; float64), ``pixel_counts`` their voxels per bin, ``low`` their smallest voxel."""
        if not 0 <= layer < self._sums.shape[0]:
            return  # a slice below the overview's last layer (cannot happen for the cores it was made for)
        self._sums[layer, touched] += sums
        self._counts[layer] += pixel_counts
        self.minimum = low if self.minimum is None else min(self.minimum, low)

    def sample(self, limit: int = 200_000) -> np.ndarray:
        """Up to ``limit`` of the filled voxels' means (to choose a grey window from)."""
        step = max(1, self._sums.size // limit)  # subsample first: no full-size temporaries
        sums, counts = self._sums.reshape(-1)[::step], self._counts.reshape(-1)[::step]
        filled = counts > 0
        return sums[filled].astype(np.float64) / counts[filled]

    def write(self, path: Path, dtype: str, key_values: Optional[Dict[str, str]] = None,
              durable: bool = True) -> Path:
        """The overview NRRD (raw), layer by layer; empty voxels get the smallest value seen."""
        background = self.minimum if self.minimum is not None else -1000.0
        across_i, across_j, _ = self.grid.sizes
        with NrrdStreamWriter(Path(path), nrrd_type=NRRD_TYPES[np.dtype(dtype).name], sizes=self.grid.sizes,
                              space_directions=self.grid.directions_lps, space_origin=self.grid.origin_lps,
                              durable=durable, key_values=key_values) as writer:
            for sums, counts in zip(self._sums, self._counts):
                mean = np.full(sums.shape, background, dtype=np.float64)
                filled = counts > 0
                mean[filled] = sums[filled] / counts[filled]
                writer.write_slice(cast_mean(mean, np.dtype(dtype)).reshape(across_j, across_i))
            writer.commit()
        return Path(path)


class CoreLayers:
    """Feeds one core's slices into the overview (see :class:`Overview`).

    What a slice adds does not depend on the core's depth, only the layer it lands in does: the
    sums of each slice over the in-plane bins it touches and its smallest voxel (:meth:`add`
    keeps them, :meth:`finish` adds them) are all the overview needs, so :meth:`replay` can place
    the core at another depth without its voxels.  Both go through :meth:`replay` (a layer's
    slices summed in float64, then added once), so a core replayed gives the very bytes a core
    read gives.
    """

    def __init__(self, overview: Overview, placed: Grid) -> None:
        self._overview = overview
        self.flat, self._layers = overview.bins(placed)
        counts = np.bincount(self.flat.ravel(), minlength=overview.bins_per_layer)
        self._pixel_counts = counts.astype(np.uint32)
        self._touched = np.flatnonzero(counts)
        self._sums: List[np.ndarray] = []
        self._lows: List[float] = []

    def add(self, voxels: np.ndarray) -> None:
        """Take the core's next slice (file order k = 0, 1, …)."""
        sums = np.bincount(self.flat.ravel(), weights=voxels.ravel(), minlength=self._overview.bins_per_layer)
        self._sums.append(sums[self._touched])
        self._lows.append(float(voxels.min()))

    def finish(self) -> Tuple[np.ndarray, np.ndarray]:
        """Add the slices taken into the overview; return what :meth:`replay` needs to add them
        again at another depth: each slice's sums over its touched bins (slices × bins) and its
        smallest voxel."""
        sums = np.stack(self._sums) if self._sums else np.zeros((0, self._touched.size))
        lows = np.array(self._lows, dtype=np.float64)
        self._sums, self._lows = [], []
        self.replay(sums, lows)
        return sums, lows

    def replay(self, sums: np.ndarray, lows: np.ndarray) -> None:
        """Add a core's slices from what :meth:`finish` returned, layer by layer."""
        if not len(sums):
            return
        layers = self._layers[:len(sums)]
        starts = np.flatnonzero(np.r_[True, layers[1:] != layers[:-1]])
        ends = np.r_[starts[1:], len(layers)]
        grouped = np.add.reduceat(np.asarray(sums, dtype=np.float64), starts, axis=0)
        for total, start, end in zip(grouped, starts, ends):
            self._overview.add_slices(int(layers[start]), total, self._touched,
                                      self._pixel_counts * np.uint32(end - start), float(lows[start:end].min()))
