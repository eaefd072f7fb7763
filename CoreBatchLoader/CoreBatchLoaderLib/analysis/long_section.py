"""What the core's picture in the report needs, kept while the core is converted.

The picture (:mod:`..report.thumbnails`) is a long section — row ``j`` = the middle row of every
slice, reduced to at most :data:`SECTION_ROWS` rows of block means — and an axial slice near the
middle.  Drawn from the written NRRD it reads one row per slice back: cheap for raw data, which
can be seeked, but a compressed core has to be inflated whole again — 40 % of a ``--compress``
run's CPU on the 900-slice, 473 MB core of ``bench/analysis_cost.py`` (0.95 s of 2.34 s).  So
the conversion's loop keeps what the picture needs as the slices go by
(:class:`LongSectionAnalysis`, ~1 µs a slice for the row) and the worker draws the picture from
it.  Drawn from the file are only the pictures of cores with no
conversion loop this run: a rerun's skipped cores, ``.nhdr`` outputs (the DICOM files are the
data), cores written by Slicer's DICOMLib route.

One piece of code for both ways: :class:`RowMeans` reduces the rows and :class:`AxialChoice`
picks the axial slice whether the rows come from the conversion or from the file, so the two
pictures are the same, byte for byte.

Memory: the reduced section (at most 1024 rows × columns float32, 2 MB at 512 columns) and one
slice (two when the middle slice is a filled gap), whatever the core's length.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .core_section import CoreSection
from .slices import AnalysisContext

SECTION_ROWS = 1024  # the long section keeps at most this many rows: block means of the slices' rows
NEAR_SLICES = 16  # how far from the middle the axial picture may move to avoid a filled gap


def section_row(rows: int) -> int:
    """The row ``j`` every slice gives the long section: the middle one."""
    return int(rows) // 2


class RowMeans:
    """``count`` rows given one block of consecutive rows at a time (any type), as float32 with
    at most ``limit`` rows (block means), reduced as they come: memory is the answer and one
    row of sums.

    Each output row is the mean of its rows, ``rows.mean(axis=0, dtype=np.float64)``, whatever
    blocks they came in: numpy sums along the first axis row after row, so the rows of one output
    row split between blocks (the conversion gives one row at a time) are added to a float64 row
    of sums as they come — the same additions in the same order — and divided at its last row.
    (Joining the pending rows to each block anew cost 5 µs a row at 1,800 slices.)"""

    def __init__(self, count: int, limit: int = SECTION_ROWS) -> None:
        self.count, self.limit = int(count), int(limit)
        # Python ints, not numpy's: compared a few times a row, numpy's scalars cost 0.1 µs each
        self._starts = [n * self.count // self.limit for n in range(self.limit + 1)] if self.count > self.limit \
            else None
        self._reduced: Optional[np.ndarray] = None
        self._sums: Optional[np.ndarray] = None  # the current output row's rows added so far…
        self._summed = 0  # …this many
        self._at = 0  # rows given so far
        self._made = 0  # output rows made

    def add(self, block: np.ndarray) -> None:
        """The next ``len(block)`` rows."""
        if self._reduced is None:
            self._reduced = np.empty((min(self.count, self.limit),) + block.shape[1:], np.float32)
            self._sums = np.zeros(block.shape[1:], np.float64)
        if self._starts is None:  # no more rows than the limit: kept as they are
            self._reduced[self._at:self._at + len(block)] = block
            self._at += len(block)
            return
        starts, at, used, sums = self._starts, self._at, 0, self._sums
        self._at += len(block)
        while used < len(block):
            n = self._made
            end = min(starts[n + 1] - at, len(block))  # this output row's rows in the block: used … end
            if self._summed == 0 and at + end == starts[n + 1]:  # whole in the block
                np.add.reduce(block[used:end], axis=0, dtype=np.float64, out=sums)
                self._summed = end - used
            else:
                for row in block[used:end]:
                    if self._summed:
                        np.add(sums, row, out=sums)
                    else:
                        sums[...] = row  # 0 + row: the first row as it is, as numpy's sum starts
                    self._summed += 1
            if at + end == starts[n + 1]:
                np.true_divide(sums, self._summed, out=self._reduced[n], casting="unsafe")
                self._summed = 0
                self._made += 1
            used = end

    def result(self) -> np.ndarray:
        if self._at != self.count:
            raise ValueError("%d rows of %d given" % (self._at, self.count))
        return self._reduced if self._reduced is not None else np.empty((0, 0), np.float32)


class AxialChoice:
    """The slice for the axial picture: the middle one (``slices // 2``), or the nearest within
    :data:`NEAR_SLICES` whose row in the section is not one flat value — a missing slice filled
    with background would otherwise be the whole axial picture.  At equal distance the slice
    before the middle wins.  Offered the slices in order, it says which one to keep."""

    def __init__(self, slices: int, reach: int = NEAR_SLICES) -> None:
        self.middle = int(slices) // 2
        self.first, self.stop = max(0, self.middle - reach), min(int(slices), self.middle + reach + 1)
        self.chosen: Optional[int] = None
        self._rank: Tuple[int, int] = (reach + 1, 0)

    def offer(self, k: int, row: np.ndarray) -> bool:
        """Whether slice ``k`` (its row in the section: ``row``) is now the choice."""
        if not self.first <= k < self.stop:
            return False
        rank = (abs(k - self.middle), 0 if k <= self.middle else 1)
        if rank < self._rank and np.ptp(row) > 0:
            self.chosen, self._rank = k, rank
            return True
        return False

    @property
    def slice(self) -> int:
        return self.middle if self.chosen is None else self.chosen


@dataclass(frozen=True)
class KeptSection:
    """The picture's planes: the long section (≤ :data:`SECTION_ROWS` rows, float32, slice order),
    the axial slice's values and its index, and the row ``j`` the section runs through."""

    section: np.ndarray
    axial: np.ndarray
    k: int
    j: int


class LongSectionAnalysis:
    """Keeps the report picture's planes while the core is converted (the module docstring).

    ``sizes``: the volume's (columns, rows, slices); ``background``: the value of a slice filled
    into a gap, which the conversion writes where ``add_slice`` is given None.  The result goes
    to the record (``record.kept_section``) for the worker that draws the picture."""

    name = "thumbnail planes (kept while converting; the thumbnail is then read from the file)"
    wants_section = False  # the rows and the slice are the same wherever the rock is

    def __init__(self, sizes: Tuple[int, int, int], background: float, dtype: np.dtype) -> None:
        columns, rows, slices = (int(v) for v in sizes)
        self.j = section_row(rows)
        self.shape = (rows, columns)
        self.background, self.dtype = background, np.dtype(dtype)
        self.means = RowMeans(slices)
        self.choice = AxialChoice(slices)
        self._axial: Optional[np.ndarray] = None  # the chosen slice so far
        self._middle: Optional[np.ndarray] = None  # the middle slice, kept while nothing better is chosen
        self._filler: Optional[np.ndarray] = None  # a gap's slice, as the conversion writes it

    def add_slice(self, k: int, values: Optional[np.ndarray], section: Optional[CoreSection]) -> None:
        if values is None and self._filler is None:
            self._filler = np.full(self.shape, self.background, self.dtype)
        plane = values if values is not None else self._filler
        row = plane[self.j]
        self.means.add(row[None])
        if self.choice.offer(k, row):
            self._axial, self._middle = plane.copy(), None
        elif k == self.choice.middle and self.choice.chosen is None:
            self._middle = plane.copy()  # the answer if no slice near it is more than a flat fill

    def finish(self, context: AnalysisContext) -> None:
        axial = self._axial if self.choice.chosen is not None else self._middle
        if axial is None:
            return  # no slice at all: the picture is drawn from the file, which says why
        context.record.kept_section = KeptSection(self.means.result(), axial, self.choice.slice, self.j)
