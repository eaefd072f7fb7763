"""A picture of a converted core for the report: long section and axial slice, side by side.

What a geologist checks at a glance: is it rock, is it whole, is it the right way up, did the
slices land in order?  The longitudinal section (row ``j`` = mid row of every slice: the plane
along the core axis ``k``, the slice normal) shows bedding, fractures and gaps along the core;
the axial slice (mid ``k``) shows the cross-section.  Orange ticks in the margins mark where each
plane cuts the other.  Readable alone (:mod:`.figure`): the core's name as its file spells it,
a depth axis down the section (metres with the core's depth, else mm from its top), a scale bar
under each plane and the grey legend with the window in HU.

Choices, and why:

- **Memory and reading.** The batch's worker draws a core it just converted from the planes kept
  while converting (:mod:`..analysis.long_section`: a compressed core is not inflated again);
  otherwise only the mid slice and one row per slice are read (:mod:`..nrrd.reader`).  Either
  way a 50 GB core needs a few MB: the section, reduced to at most 1024 rows of block means, and
  one slice.
- **Window.** A fixed rock-CT window, −1000 (air, black) to 3000 HU (dense minerals, white):
  the same grey means the same density in every core of the report, which is what comparing
  cores needs.  When most of the picture falls outside it — data that are not in HU, such as
  raw 16-bit micro-CT values — the window becomes the 0.5th–99.5th percentiles of the picture.
- **Aspect.** Pixels are placed by their size in millimetres (the NRRD spacing): the section is
  scaled to fit ``max_size`` px (a 1 m core is a tall thin strip, as it looks on the shelf), the
  axial slice to fit ``axial_size`` px.  Shrinking averages blocks of voxels (no aliasing of thin
  beds); enlarging a small scan repeats voxels (nearest).
- **Top on top.** The core's top is drawn at the top, as in a core box and as the well strip,
  the CT log and the unwrap draw it: slice ``k = 0`` (the smaller slice position, the project's
  depth convention: :mod:`..well.placement`), or the last slice for a core the depth table flips
  (``top_last``).  Not the patient S axis: a core lies on the scanner table, so S says nothing
  about which end is up.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..analysis.core_section import in_ranges
from ..analysis.long_section import AxialChoice, KeptSection, RowMeans, section_row
from ..nrrd.reader import NrrdHeader, iter_row_section, read_header, read_rows, read_slice
from ..nrrd.writer import KEY_PREFIX
from .figure import ACCENT, GREYS, LABEL_PX, MUTED, TITLE_PX, Sheet, legend_width, number_label, text_box, ticks
from .figure import ACCENT_RGB as TICK, PALETTE, TICK as TICK_PX  # noqa: F401 (TICK, PALETTE: the picture's colours)

ROCK_CT_WINDOW = (-1000.0, 3000.0)  # HU: air black, dense minerals white
MIN_INSIDE_WINDOW = 0.05  # below this fraction of pixels inside the window, use percentiles
PERCENTILES = (0.5, 99.5)
MARGIN = 10  # px around the picture
GAP = 28  # px between the two planes (their cut marks stand in it)
MARK = 7  # px of a cut mark

Window = Tuple[float, float]


Box = Tuple[int, int, int, int]  # left, top, width, height in the PNG


def core_thumbnail(nrrd_path: Union[str, Path], png_path: Union[str, Path], *,
                   window: Optional[Window] = ROCK_CT_WINDOW, max_size: int = 512,
                   axial_size: int = 256, top_last: bool = False, kept: Optional[KeptSection] = None,
                   top_m: Optional[float] = None, background: Sequence[Window] = ()) -> Path:
    """Draw ``nrrd_path`` (3-D NRRD, raw or gzip) into ``png_path`` (palette PNG); returns ``png_path``.

    ``top_last``: the core's top is its last slice (a flipped core), drawn at the top.
    ``kept``: the planes kept while the core was converted (:mod:`..analysis.long_section`), so
    the file's data are not read again (a compressed core would be inflated whole); the same
    picture either way.  ``top_m``: the depth of the core's top (the section's axis in metres;
    without it, millimetres from the top).  ``background``: value ranges that are no data
    (PixelPaddingValue, a viewer's mask: the record's surroundings), drawn as the window's low
    end, as Slicer shows padding, and left out of the window's choice.

    ``window`` (low, high) in the file's values; ``None`` always uses percentiles.  The section
    fits in ``max_size`` x ``max_size`` px (from at most :data:`..analysis.long_section.SECTION_ROWS`
    rows), the axial slice in ``axial_size`` x ``axial_size``.
    """
    return thumbnail_sheet(nrrd_path, window=window, max_size=max_size, axial_size=axial_size,
                           top_last=top_last, kept=kept, top_m=top_m, background=background)[0].save(png_path)


def thumbnail_sheet(nrrd_path: Union[str, Path], *, window: Optional[Window] = ROCK_CT_WINDOW,
                    max_size: int = 512, axial_size: int = 256, top_last: bool = False,
                    kept: Optional[KeptSection] = None, top_m: Optional[float] = None,
                    background: Sequence[Window] = ()) -> Tuple[Sheet, Box, Box]:
    """(the thumbnail's sheet, the long section's box, the axial slice's box): see
    :func:`core_thumbnail`."""
    header = read_header(nrrd_path)
    columns, rows, slices = header.sizes
    if kept is None:
        kept = _kept_from_file(header)
    section, k, j = kept.section, kept.k, kept.j
    axial = kept.axial.astype(np.float32)  # (rows, columns)
    padded = [in_ranges(plane, background) for plane in (section, axial)]
    low, high = choose_window([plane if mask is None else plane[~mask] for plane, mask in zip((section, axial), padded)],
                              window)
    if padded[0] is not None:  # padding and masks: background, as Slicer draws padding
        section = np.where(padded[0], np.float32(low), section.astype(np.float32))
        axial[padded[1]] = low
    dx, dy, dz = header.spacing
    if top_last:
        section = section[::-1]
    section_grey = to_grey(fit(section, (slices * dz, columns * dx), max_size), low, high, GREYS)
    axial_grey = to_grey(fit(axial, (rows * dy, columns * dx), axial_size), low, high, GREYS)
    k_row = slices - 1 - k if top_last else k  # where slice k is drawn in the section
    name = header.key_values.get(KEY_PREFIX + "core") or Path(nrrd_path).stem
    return compose(name, section_grey, axial_grey, section_mark=(k_row + 0.5) / slices,
                   axial_mark=(j + 0.5) / rows, length_mm=slices * dz, width_mm=(columns * dx, columns * dx),
                   top_m=top_m, window=(low, high), hounsfield=window is not None and (low, high) == tuple(window),
                   cuts=(k, j))


def _kept_from_file(header: NrrdHeader) -> KeptSection:
    """The picture's planes read from the file: one row a slice, then the chosen slice."""
    _, rows, slices = header.sizes
    j = section_row(rows)
    means, choice = RowMeans(slices), AxialChoice(slices)
    at = 0
    for block in iter_row_section(header, j):
        means.add(block)
        for n in range(max(at, choice.first), min(at + len(block), choice.stop)):
            choice.offer(n, block[n - at])
        at += len(block)
    return KeptSection(means.result(), read_slice(header, choice.slice), choice.slice, j)


ROWS_AT_ONCE = 256  # rows of a picture read from its file at once (unwrap_picture): ~1 MB as float32


def read_resampled(header: NrrdHeader, shape: Tuple[int, int],
                   window: Window = ROCK_CT_WINDOW) -> Tuple[np.ndarray, Tuple[int, int]]:
    """(the picture of ``header`` (a 2-D NRRD) resampled to ``shape`` as :func:`resample_axis`
    does along rows then columns, float32; :func:`window_counts` of every value of the file),
    reading the file once, :data:`ROWS_AT_ONCE` rows (or one picture row's block) at a time:
    the unwrap of a long core, for its picture and the well's, is never in memory whole."""
    count = header.sizes[1]
    size = shape[0]
    starts = (np.arange(size) * count) // size
    widths = np.maximum(np.append(starts[1:], count) - starts, 1).astype(np.float32)
    picture = np.empty(shape, np.float32)
    inside = finite = 0
    n = 0
    while n < size:  # picture rows n … m − 1 from file rows first … last − 1
        first = int(starts[n])
        m = max(n + 1, int(np.searchsorted(starts, first + ROWS_AT_ONCE)))
        last = int(starts[m]) if m < size else count
        block = read_rows(header, first, last)  # the file's type: counted and summed without a copy
        block_inside, block_finite = window_counts(block, window)
        inside, finite = inside + block_inside, finite + block_finite
        local = starts[n:m] - first
        if size >= count:  # enlarging (or as many rows): repeat rows, as resample_axis does
            rows = block[local].astype(np.float32)
        else:
            rows = block_sums(block, local, widths[n:m].astype(np.int64), 0, np.float32) / widths[n:m, None]
        picture[n:m] = resample_axis(rows, shape[1], 1)
        n = m
    return picture, (inside, finite)


def choose_window(values: Union[np.ndarray, Sequence[np.ndarray]], window: Optional[Window] = ROCK_CT_WINDOW,
                  counted: Optional[Tuple[int, int]] = None) -> Window:
    """``window`` if enough of ``values`` falls inside it (see module doc), else their percentiles.

    ``values``: one array or several, counted one by one and joined only for the percentiles
    (the thumbnail's two planes: no joined copy in the common case).  ``counted``: (inside,
    finite) counted already over more values than ``values`` holds (:func:`window_counts` of a
    picture read in blocks, whose block means are ``values``).
    """
    pieces = [values] if isinstance(values, np.ndarray) else list(values)
    if window is not None:
        inside, finite = counted if counted is not None else (
            sum(counts) for counts in zip(*(window_counts(piece, window) for piece in pieces)))
        if finite and inside >= MIN_INSIDE_WINDOW * finite:
            return window
    finite_values = np.concatenate([piece[np.isfinite(piece)].ravel() for piece in pieces])
    if finite_values.size == 0:
        return window or ROCK_CT_WINDOW
    low, high = (float(v) for v in np.percentile(finite_values, PERCENTILES))
    return (low, high) if high > low else (low, low + 1.0)


def window_counts(values: np.ndarray, window: Window) -> Tuple[int, int]:
    """(how many of ``values`` lie strictly inside ``window``, how many are finite)."""
    if values.dtype.kind in "iu":  # a file's CT numbers: compared as they are, not as float64
        info = np.iinfo(values.dtype)

        def at_least(bound: float) -> int:  # an integer or ±inf
            if bound <= info.min:
                return values.size
            return 0 if bound > info.max else int(np.count_nonzero(values >= values.dtype.type(bound)))

        low, high = window
        if math.isnan(low) or math.isnan(high):  # no number compares with NaN (floor/ceil would raise)
            return 0, values.size
        # low < v < high for an integer v: from the first integer above low to the first not below high
        above = low if math.isinf(low) else math.floor(low) + 1
        return max(0, at_least(above) - at_least(high if math.isinf(high) else math.ceil(high))), values.size
    inside = int(np.count_nonzero((values > window[0]) & (values < window[1])))  # NaN and ±inf: never
    finite = values.size if values.dtype.kind == "b" else int(np.count_nonzero(np.isfinite(values)))
    return inside, finite


def fit(plane: np.ndarray, extent_mm: Tuple[float, float], box: int) -> np.ndarray:
    """Resample ``plane`` so its physical ``extent_mm`` (height, width) fits ``box`` px, aspect kept."""
    shape = fitted_shape(extent_mm, box)
    return resample_axis(resample_axis(plane, shape[0], 0), shape[1], 1)


def fitted_shape(extent_mm: Tuple[float, float], box: int) -> Tuple[int, int]:
    """(rows, columns) in px of a picture of physical ``extent_mm`` (height, width) fitting ``box``."""
    height_mm, width_mm = (max(float(v), 1e-9) for v in extent_mm)
    scale = box / max(height_mm, width_mm)
    return max(1, int(round(height_mm * scale))), max(1, int(round(width_mm * scale)))


def resample_axis(plane: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``size`` samples along ``axis``: each the mean of the voxels it covers (at least one).

    Shrinking averages blocks (:func:`block_sums`); enlarging repeats voxels (nearest), which is
    a ``take``.
    """
    count = plane.shape[axis]
    if count == size:
        return plane
    starts = (np.arange(size) * count) // size
    if size > count:
        return np.take(plane, starts, axis=axis)
    widths = np.append(starts[1:], count) - starts  # ≥ 1: shrinking, the starts increase
    sums = block_sums(plane, starts, widths, axis)
    shape = [1, 1]
    shape[axis] = size
    return sums / widths.reshape(shape).astype(plane.dtype)


def block_sums(plane: np.ndarray, starts: np.ndarray, widths: np.ndarray, axis: int,
               dtype: Optional[np.dtype] = None) -> np.ndarray:
    """The sums of a 2-D ``plane``'s blocks along ``axis``: block n is ``widths[n]`` (≥ 1) rows
    (axis 0) or columns (1) from ``starts[n]`` — what ``np.add.reduceat(plane, starts, axis,
    dtype)`` gives for blocks that follow one another: in ``dtype`` (each value made that type,
    then added), else reduceat's (integers in int64 or uint64, not overflowing ``plane``'s).
    Added one after another: reduceat adds a block's first value to the sum of the others, so
    float sums of blocks over two wide may differ from its in the last bits.

    By hand, for speed: reduceat runs its inner loop once per block *and* column, 1–4 values
    long when a picture is shrunk a little (6.6 ms for an unwrap's 900 × 1196 rows to 512);
    here one gather per offset into the blocks (0.7 ms), over :data:`VALUES_AT_ONCE` of the
    sums at a time: the work stays that of reading the plane once whatever the widths, and the
    memory the result's plus a buffer that stays in the CPU's cache.
    """
    kind = np.dtype(dtype) if dtype is not None else np.add.reduce(plane[:0], axis=axis).dtype
    sums = np.take(plane, starts, axis=axis).astype(kind, copy=False)
    if sums.size == 0 or int(widths.max()) == 1:
        return sums
    step = max(1, VALUES_AT_ONCE // sums.shape[1])  # rows of the sums at a time
    buffer = np.empty((min(step, sums.shape[0]), sums.shape[1]), plane.dtype)
    shortest = int(widths.min())
    for first in range(0, sums.shape[0], step):
        run = sums[first:first + step]
        # axis 0: these rows' blocks; axis 1: these rows, every block
        source, at, lengths = ((plane, starts[first:first + step], widths[first:first + step]) if axis == 0
                               else (plane[first:first + step], starts, widths))
        for offset in range(1, int(lengths.max())):
            if offset < shortest:  # every block: a gather into the buffer, an add in place
                gathered = buffer[:len(run)]
                # in range (offset < every width); "clip" only spares take a buffered copy
                np.take(source, at + offset, axis=axis, out=gathered, mode="clip")
                np.add(run, gathered, out=run, dtype=kind)
            else:  # the longer blocks only (a shrink by a fraction: blocks of two widths)
                longer = np.flatnonzero(lengths > offset)
                if axis == 0:
                    run[longer] = np.add(run[longer], source[at[longer] + offset], dtype=kind)
                else:
                    run[:, longer] = np.add(run[:, longer], source[:, at[longer] + offset], dtype=kind)
    return sums


VALUES_AT_ONCE = 1 << 14  # sums gathered at once (block_sums): 64 KB of float32, in the CPU's cache


def to_grey(plane: np.ndarray, low: float, high: float, levels: int = 256) -> np.ndarray:
    """Linear window ``low`` → 0 (black), ``high`` → ``levels - 1`` (white), clipped; NaN → black."""
    top = levels - 1
    scaled = np.subtract(plane, low, dtype=np.result_type(plane.dtype, np.float32))
    scaled *= top / (high - low)
    scaled += 0.5
    # fmax/fmin, not clip + nan_to_num: NaN gives way to the bound (black), in place, one pass each
    np.fmax(scaled, 0, out=scaled)
    np.fmin(scaled, top, out=scaled)
    return scaled.astype(np.uint8)


def compose(name: str, section: np.ndarray, axial: np.ndarray, *, section_mark: float, axial_mark: float,
            length_mm: float, width_mm: Tuple[float, float], top_m: Optional[float], window: Window,
            hounsfield: bool, cuts: Tuple[int, int]) -> Tuple[Sheet, Box, Box]:
    """Both grey pictures (palette indices) on one sheet, top-aligned: the section with its
    depth axis and a scale bar, the axial slice with its scale bar, cut marks in orange where
    each plane cuts the other (``section_mark``/``axial_mark``: 0 top .. 1 bottom), the legend.

    ``width_mm``: the section's and the axial slice's widths in mm (their scale bars).
    """
    size = LABEL_PX
    depth_known = top_m is not None
    first = float(top_m) if depth_known else 0.0
    span = length_mm / 1000.0 if depth_known else length_mm
    step, values = ticks(first, first + span, section.shape[0], 2.6 * size)
    unit = "depth (m)" if depth_known else "mm from top"
    label_w = max([text_box(number_label(v, step), size)[0] for v in values] + [0])
    left = MARGIN + max(label_w + TICK_PX + 4, text_box(unit, size)[0] + 2)
    captions = ("long section, row %d" % cuts[1], "axial slice %d" % cuts[0])
    title_h = text_box(name, TITLE_PX)[1]
    top = MARGIN + title_h + 10 + text_box("Hg", size)[1] + size + 16  # captions, then the depth unit
    axial_left = left + section.shape[1] + GAP
    legend_w = max(180, axial.shape[1])
    bar_h = size + 10
    note = "orange: where the planes cut each other"
    note_w, note_h = text_box(note, size)
    legend_h = 2 * text_box("Hg", size)[1] + 10 + TICK_PX + 14
    right_bottom = top + axial.shape[0] + 8 + bar_h + 6 + note_h + 12 + legend_h
    width = max(axial_left + max(axial.shape[1] + MARK, legend_width(window, hounsfield, legend_w, size), note_w), left + text_box(captions[0], size)[0],
                MARGIN + text_box(name, TITLE_PX)[0]) + MARGIN
    height = max(top + section.shape[0] + 8 + bar_h, right_bottom) + MARGIN
    sheet = Sheet(width, height)
    sheet.text(MARGIN, MARGIN, name, TITLE_PX)
    caption_y = MARGIN + title_h + 10
    sheet.text(left, caption_y, captions[0], size, "lt", MUTED)
    sheet.text(axial_left, caption_y, captions[1], size, "lt", MUTED)
    sheet.paste(section, left, top)
    sheet.paste(axial, axial_left, top)
    sheet.depth_axis(left, top, top + section.shape[0], first, first + span, unit, size)
    _mark(sheet, left + section.shape[1], top, section.shape[0], section_mark, right=True)
    _mark(sheet, axial_left, top, axial.shape[0], axial_mark, right=False)
    _mark(sheet, axial_left + axial.shape[1], top, axial.shape[0], axial_mark, right=True)
    y = top + section.shape[0] + 8 + size // 2
    sheet.scale_bar(left, y, section.shape[1] / width_mm[0], max(24, int(section.shape[1] * 0.6)), size)
    y = top + axial.shape[0] + 8 + size // 2
    sheet.scale_bar(axial_left, y, axial.shape[1] / width_mm[1], max(24, int(axial.shape[1] * 0.6)), size)
    y = top + axial.shape[0] + 8 + bar_h + 6
    sheet.text(axial_left, y, note, size, "lt", MUTED)
    sheet.legend(axial_left, y + note_h + 12, legend_w, window, hounsfield, size)
    return (sheet, (left, top, section.shape[1], section.shape[0]),
            (axial_left, top, axial.shape[1], axial.shape[0]))


def _mark(sheet: Sheet, x: int, top: int, rows: int, mark: float, right: bool) -> None:
    """An orange tick in the margin beside a picture (``right`` of ``x`` or left of it) at
    height ``mark`` (0 top .. 1 bottom)."""
    y = top + min(rows - 1, int(mark * rows))
    x0, x1 = (x + 1, x + MARK) if right else (x - MARK, x - 2)
    sheet.rectangle((x0, y - 1, x1, y + 1), fill=ACCENT)
