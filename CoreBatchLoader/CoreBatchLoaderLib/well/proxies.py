"""Downsampled stand-ins for cores when the whole well does not fit in memory.

A well of several hundred full-resolution cores is hundreds of GB; Slicer needs at least the
voxel size of everything in its scene.  The scene therefore gets a memory *budget*; when the
cores' voxels exceed it, every core is replaced by a *proxy*: the mean of blocks of
``f × f × f`` voxels, ``f`` the smallest integer for which the proxies fit.

One factor for the whole well, not one per core: a well is read as one column, and a column in
which some cores are sharp and their neighbours blurred would suggest differences in the rock
that are differences in processing.  With one factor every core is seen at the same resolution
and the budget is still met (cores of unequal size shrink in proportion).

Proxies keep the cores' voxel type (means rounded for integer types: half a HU is far below a
proxy's resolution), so the budget is counted in the type Slicer will hold.  They are computed
from the converted NRRD slice by slice (:class:`BlockMean`): memory is one slice plus one row of
blocks, whatever the core's size.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..dicom.voxel_values import NRRD_TYPES
from ..nrrd.writer import NrrdStreamWriter
from .placement import Grid, blocks

_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?)(b?)\s*", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """Bytes from "4G", "512MiB", "2GB", "1e9"-free plain numbers ("1500000000").

    A bare unit or one with ``i`` is binary (``4G`` = ``4GiB`` = 4·2³⁰, as memory is sized);
    with ``B`` alone it is decimal (``4GB`` = 4·10⁹, as disks are sold).
    """
    match = _SIZE.fullmatch(text or "")
    if match is None:
        raise ValueError("%r is not a size (examples: 8G, 512MiB, 2GB, 1500000000)" % text)
    number, unit, binary, byte = match.groups()
    base = 1000 if (byte and not binary and unit) else 1024
    value = int(float(number) * base ** _POWERS[unit.lower()])
    if value <= 0:
        raise ValueError("%r: the size must be positive" % text)
    return value


def physical_memory() -> Optional[int]:
    """Bytes of RAM on this machine, or None where ``os.sysconf`` cannot tell."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def default_budget() -> int:
    """A quarter of RAM: Slicer, its views and the user's other work need the rest."""
    return (physical_memory() or 8 << 30) // 4


def volume_bytes(sizes: Sequence[int], itemsize: int, factor: int = 1) -> int:
    """Voxel bytes of a volume of ``sizes`` averaged in blocks of ``factor``."""
    count = 1
    for size in sizes:
        count *= blocks(size, factor)
    return count * int(itemsize)


def smallest_factor(volumes: Sequence[Tuple[Sequence[int], int]], budget: int) -> Tuple[int, bool]:
    """(f, fits): the smallest integer block size that brings ``volumes`` ((sizes, itemsize)
    each) under ``budget`` bytes.  When not even one voxel per core fits, the coarsest factor
    and ``False``."""
    largest = max((max(sizes) for sizes, _ in volumes), default=1)
    factor = 1
    while True:
        if sum(volume_bytes(sizes, itemsize, factor) for sizes, itemsize in volumes) <= budget:
            return factor, True
        if factor >= largest:
            return factor, False
        factor += 1


class BlockMean:
    """Averages a volume in blocks of ``factor`` voxels as its slices arrive in k order.

    ``padding``: voxels before index 0 on each axis (see :func:`.placement.block_padding`); a
    partial block is the mean of the voxels it has.  :meth:`add` returns an output slice each
    time a block of slices is complete, :meth:`finish` the last one.
    """

    def __init__(self, sizes: Sequence[int], factor: int, padding: Sequence[int], dtype: np.dtype) -> None:
        columns, rows, self.slices = (int(v) for v in sizes)
        self.factor = int(factor)
        self.dtype = np.dtype(dtype)
        self._pad_k = int(padding[2])
        self._starts_i, count_i = _starts(columns, self.factor, int(padding[0]))
        self._starts_j, count_j = _starts(rows, self.factor, int(padding[1]))
        self._area = np.outer(count_j, count_i).astype(np.float64)
        self._sum = np.zeros_like(self._area)
        self._block: Optional[int] = None
        self._count_k = 0
        self._index = 0  # slices taken so far

    def add(self, voxels: np.ndarray) -> Optional[np.ndarray]:
        """Take the next slice (rows × columns); return a finished output slice or None."""
        out = None
        block = (self._index + self._pad_k) // self.factor
        if self._block is not None and block != self._block:
            out = self._emit()
        self._block = block
        summed = np.add.reduceat(np.add.reduceat(voxels, self._starts_i, axis=1, dtype=np.float64),
                                 self._starts_j, axis=0)
        self._sum += summed
        self._count_k += 1
        self._index += 1
        return out

    def finish(self) -> Optional[np.ndarray]:
        """The last block of slices (partial or not), or None when no slice came."""
        return self._emit() if self._count_k else None

    def _emit(self) -> np.ndarray:
        mean = self._sum / (self._area * self._count_k)
        self._sum = np.zeros_like(self._area)
        self._count_k = 0
        return cast_mean(mean, self.dtype)


def cast_mean(mean: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Means in ``dtype``: rounded and clipped for integer types."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(mean), info.min, info.max).astype(dtype)
    return mean.astype(dtype)


def _starts(size: int, factor: int, pad: int) -> Tuple[np.ndarray, np.ndarray]:
    """First index of each block along an axis, and how many real voxels each block has."""
    starts = np.maximum(np.arange(blocks(size + pad, factor)) * factor - pad, 0)
    counts = np.diff(np.append(starts, size))
    return starts, counts


class ProxyWriter:
    """Writes ``<core>_proxy.nrrd`` while the core's slices stream past (see :class:`BlockMean`).

    >>> with ProxyWriter(path, source_sizes, grid, factor, padding, "int16", {}) as proxy:  # doctest: +SKIP
    ...     for voxels in slices: proxy.add(voxels)
    ...     proxy.commit()
    """

    def __init__(self, path: Path, source_sizes: Sequence[int], grid: Grid, factor: int,
                 padding: Sequence[int], dtype: str, key_values: Dict[str, str], durable: bool = True) -> None:
        self.path = Path(path)
        self._mean = BlockMean(source_sizes, factor, padding, np.dtype(dtype))
        self._writer = NrrdStreamWriter(self.path, nrrd_type=NRRD_TYPES[np.dtype(dtype).name], sizes=grid.sizes,
                                        space_directions=grid.directions_lps, space_origin=grid.origin_lps,
                                        durable=durable, key_values=key_values)

    def __enter__(self) -> "ProxyWriter":
        self._writer.__enter__()
        return self

    def add(self, voxels: np.ndarray) -> None:
        out = self._mean.add(voxels)
        if out is not None:
            self._writer.write_slice(out)

    def commit(self) -> None:
        out = self._mean.finish()
        if out is not None:
            self._writer.write_slice(out)
        self._writer.commit()

    def __exit__(self, *exc: object) -> None:
        self._writer.__exit__(*exc)
