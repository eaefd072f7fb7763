"""The well strip: one picture of every core at its depth, with a depth scale in metres.

What a core log shows on paper: a longitudinal section through each core (the middle row of
every slice, the plane along the core axis), placed at its depth, shallow at the top, with
the depth in metres on the left, a line at each core's top and bottom, the core's name on the
right, and the intervals without core hatched.

Choices, and why:

- **Scale.** Depth is to scale (``mm_per_px`` from the interval and the picture's height); the
  width is to the same scale unless that makes the strip narrower than :data:`MIN_STRIP_WIDTH`,
  in which case it is stretched sideways and :attr:`WellStrip.exaggeration` says by how much (a
  100 m well drawn 1600 px high would otherwise show its cores 2 px wide); a picture may also
  be given a ``max_width`` (the well's unwrap of a few short cores), then it is squeezed and
  says so the same way.  Shrinking averages
  (:func:`.thumbnails.resample_axis`), so thin beds do not alias.
- **Grey levels.** The report's rock-CT window (:func:`.thumbnails.choose_window`), the same
  grey for the same density in every core.
- **Memory.** A core's section (slices × columns) is collected while its slices stream past for
  the proxies and the overview, drawn into the strip, and dropped; the strip itself is a few MB.
- **Text.** Digits and capitals from a 5×7 bitmap font drawn with numpy: the engine depends on
  numpy only (no Pillow, no matplotlib), and a depth label needs a dozen glyphs.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..report.log_svg import depth_label, nice_step
from ..report.png import write_png
from ..report.thumbnails import ROCK_CT_WINDOW, choose_window, resample_axis, to_grey
from .placement import Grid

STRIP_HEIGHT = 1400  # px for the whole cored interval
MIN_STRIP_WIDTH = 64  # px; narrower to-scale strips are widened (see the module docstring)
FONT_SCALE = 2  # font pixels per glyph pixel
TICK_LENGTH = 6
MIN_TICK_SPACING = 40  # px between depth labels
MARGIN = 12
BACKGROUND = (255, 255, 255)
INK = (31, 41, 51)
BOUNDARY = (240, 130, 20)
GAP_HATCH = (205, 210, 216)
NAME_LIMIT = 18  # characters of a core name shown

# 5×7 glyphs, rows top to bottom, '#' = ink.  Lower-case letters are drawn as capitals, except
# "m" (the unit), which has its own glyph.
_GLYPHS = {
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.", "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####", "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.", "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.", "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.", "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    ".": ".....|.....|.....|.....|.....|.##..|.##..", "-": ".....|.....|.....|#####|.....|.....|.....",
    "_": ".....|.....|.....|.....|.....|.....|#####", " ": ".....|.....|.....|.....|.....|.....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.", ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "m": ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#", "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#", "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.", "D": "####.|#...#|#...#|#...#|#...#|#...#|####.",
    "E": "#####|#....|#....|####.|#....|#....|#####", "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####", "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.", "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#", "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#", "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.", "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#", "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.", "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.", "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.", "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..", "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
}
GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7


def text_mask(text: str, scale: int = FONT_SCALE) -> np.ndarray:
    """Boolean mask (height, width) of ``text`` in the bitmap font, one blank column between glyphs."""
    columns = []
    for char in text:
        glyph = _GLYPHS.get(char) or _GLYPHS.get(char.upper()) or _GLYPHS["?"]
        rows = np.array([[c == "#" for c in row] for row in glyph.split("|")], dtype=bool)
        columns.extend([rows, np.zeros((GLYPH_HEIGHT, 1), dtype=bool)])
    mask = np.concatenate(columns[:-1], axis=1) if columns else np.zeros((GLYPH_HEIGHT, 0), dtype=bool)
    return np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)


def draw_text(canvas: np.ndarray, text: str, top: int, left: int, colour: Sequence[int] = INK,
              scale: int = FONT_SCALE) -> None:
    """Paint ``text`` into the RGB ``canvas`` with its top-left corner at (top, left), clipped."""
    mask = text_mask(text, scale)
    height, width = mask.shape
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(canvas.shape[0], top + height), min(canvas.shape[1], left + width)
    if y1 > y0 and x1 > x0:
        region = canvas[y0:y1, x0:x1]
        region[mask[y0 - top:y1 - top, x0 - left:x1 - left]] = colour


def tick_step(mm_per_px: float, min_spacing_px: int = MIN_TICK_SPACING) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ m step whose ticks are at least ``min_spacing_px`` apart."""
    return nice_step(min_spacing_px * mm_per_px / 1000.0)


class WellStrip:
    """The strip's pixels (as values, NaN where there is no core) and its cores' intervals.

    ``top_s``/``bottom_s``: the interval drawn (S, mm); ``width_mm``: the widest core.
    """

    def __init__(self, top_s: float, bottom_s: float, width_mm: float, height: int = STRIP_HEIGHT,
                 max_width: Optional[int] = None) -> None:
        self.top_s, self.bottom_s = float(top_s), float(bottom_s)
        self.height = int(height)
        self.mm_per_px = (self.top_s - self.bottom_s) / self.height
        to_scale = width_mm / self.mm_per_px
        self.width = max(MIN_STRIP_WIDTH, int(round(to_scale)))
        if max_width is not None:  # a short well's unwrap would be thousands of pixels wide
            self.width = min(self.width, max_width)
        self.exaggeration = self.width / to_scale if to_scale > 0 else 1.0
        self.values = np.full((self.height, self.width), np.nan, dtype=np.float32)
        self.cores: List[Tuple[str, float, float]] = []  # name, top S, bottom S (voxel edges)

    @property
    def top_px(self) -> int:
        """The picture's row of the interval's top: below the unit and half the top label."""
        text_h = GLYPH_HEIGHT * FONT_SCALE
        return MARGIN + text_h + 6 + text_h // 2

    @property
    def stretched(self) -> bool:
        """Drawn wider or narrower than to scale (the picture then says so under the strip)."""
        return abs(math.log(self.exaggeration)) > 0.05 if self.exaggeration > 0 else False

    @property
    def picture_height(self) -> int:
        """Rows of the rendered picture (a log track drawn beside it takes the same)."""
        text_h = GLYPH_HEIGHT * FONT_SCALE
        return self.top_px + self.height + MARGIN + text_h // 2 + (text_h + 8 if self.stretched else 0)

    def row_of(self, s: float) -> int:
        """The pixel row at the level ``s`` (a boundary between rows)."""
        return int(round((self.top_s - s) / self.mm_per_px))

    def core(self, name: str, placed: Grid, flip: bool) -> "CoreSection":
        return CoreSection(self, name, placed, flip)

    def paste(self, name: str, placed: Grid, section: Union[np.ndarray, Callable[[Tuple[int, int]], np.ndarray]],
              width_mm: Optional[float] = None) -> None:
        """Draw a core's section (top row first, columns along +R) at its place; ``width_mm``
        when the picture is not the core's width (an unwrap: its circumference).  ``section``:
        the picture, or what gives it resampled to a shape (rows, columns) — a picture read from
        its file in blocks (an unwrap: :func:`..report.thumbnails.read_resampled`)."""
        bottom, top = placed.s_range()
        y0, y1 = self.row_of(top), self.row_of(bottom)
        width_mm = placed.sizes[0] * placed.spacing[0] if width_mm is None else width_mm
        columns = max(1, int(round(width_mm / self.mm_per_px * self.exaggeration)))
        x0 = (self.width - columns) // 2
        self.cores.append((name, top, bottom))
        if y1 <= y0:
            return  # thinner than a pixel row at this scale: only its boundary lines show
        if callable(section):
            picture = section((y1 - y0, columns))
        else:
            picture = resample_axis(resample_axis(section.astype(np.float32), y1 - y0, 0), columns, 1)
        rows = slice(max(0, y0), min(self.height, y1))
        self.values[rows, x0:x0 + columns] = picture[rows.start - y0:rows.stop - y0]

    def render(self, window: Optional[Tuple[float, float]] = ROCK_CT_WINDOW) -> np.ndarray:
        """The RGB picture: depth axis, strip, boundaries, names (see the module docstring)."""
        step = tick_step(self.mm_per_px)
        top_m, bottom_m = -self.top_s / 1000.0, -self.bottom_s / 1000.0
        first = math.ceil(top_m / step - 1e-9)
        ticks = [n * step for n in range(first, int(math.floor(bottom_m / step + 1e-9)) + 1)]
        labels = [depth_label(t, step) for t in ticks]
        glyph_w = (GLYPH_WIDTH + 1) * FONT_SCALE
        text_h = GLYPH_HEIGHT * FONT_SCALE
        label_w = max([len(text) for text in labels + ["m"]]) * glyph_w
        names = [name[:NAME_LIMIT] for name, _, _ in self.cores]
        names_w = max([len(n) for n in names] + [0]) * glyph_w
        strip_x = MARGIN + label_w + TICK_LENGTH + 4
        strip_y = self.top_px
        width = strip_x + self.width + TICK_LENGTH + 6 + names_w + MARGIN
        stretched = self.stretched
        height = self.picture_height
        canvas = np.empty((height, width, 3), dtype=np.uint8)
        canvas[:] = BACKGROUND
        self._draw_strip(canvas, strip_y, strip_x, window)
        draw_text(canvas, "m", MARGIN, strip_x - TICK_LENGTH - 4 - glyph_w)
        for depth, label in zip(ticks, labels):
            y = strip_y + self.row_of(-1000.0 * depth)
            canvas[max(0, y - 1):y + 1, strip_x - TICK_LENGTH - 1:strip_x - 1] = INK
            draw_text(canvas, label, y - text_h // 2, strip_x - TICK_LENGTH - 4 - len(label) * glyph_w)
        canvas[strip_y:strip_y + self.height, strip_x - 1] = INK  # the axis line
        if stretched:  # say so: a strip drawn wider than to scale must not pass for true scale
            draw_text(canvas, "WIDTH X%.0f" % self.exaggeration if self.exaggeration >= 2 else
                      "WIDTH X%.1f" % self.exaggeration, strip_y + self.height + text_h // 2 + 8, strip_x)
        name_x = strip_x + self.width + TICK_LENGTH + 6
        last_name_bottom = -1
        for (name, top, bottom), shown in zip(self.cores, names):
            for s in (top, bottom):
                y = min(strip_y + self.height - 1, strip_y + self.row_of(s))
                canvas[y, strip_x:strip_x + self.width + TICK_LENGTH] = BOUNDARY
            y_mid = strip_y + (self.row_of(top) + self.row_of(bottom)) // 2 - text_h // 2
            if y_mid > last_name_bottom:
                draw_text(canvas, shown, y_mid, name_x)
                last_name_bottom = y_mid + text_h + 2
        return canvas

    def _draw_strip(self, canvas: np.ndarray, top: int, left: int, window: Optional[Tuple[float, float]]) -> None:
        finite = self.values[np.isfinite(self.values)]
        low, high = choose_window(finite, window) if finite.size else (window or ROCK_CT_WINDOW)
        grey = to_grey(np.nan_to_num(self.values, nan=low), low, high)
        region = canvas[top:top + self.height, left:left + self.width]
        region[:] = grey[:, :, None]
        empty = ~np.isfinite(self.values)
        rows_without_core = empty.all(axis=1)
        yy, xx = np.mgrid[0:self.height, 0:self.width]
        hatch = ((yy + xx) % 8) < 2
        region[empty & ~rows_without_core[:, None]] = BACKGROUND  # beside a narrower core
        region[rows_without_core[:, None] & ~hatch] = BACKGROUND
        region[rows_without_core[:, None] & hatch] = GAP_HATCH

    def write(self, path: Path) -> Path:
        return write_png(path, self.render())


class CoreSection:
    """Collects the middle row of each of a core's slices, then draws the section into the strip."""

    def __init__(self, strip: WellStrip, name: str, placed: Grid, flip: bool) -> None:
        self._strip, self._name, self._placed, self._flip = strip, name, placed, flip
        self._row = placed.sizes[1] // 2
        self._rows: List[np.ndarray] = []

    def add(self, voxels: np.ndarray) -> None:
        self._rows.append(np.asarray(voxels[self._row], dtype=np.float32))

    def finish(self) -> None:
        if not self._rows:
            return
        section = np.stack(self._rows)
        self._rows = []
        # Unflipped cores have k = 0 on top; flipped ones k = last.  Columns: i runs along +R in
        # both placements, so no column flip is needed.
        self._strip.paste(self._name, self._placed, section[::-1] if self._flip else section)

