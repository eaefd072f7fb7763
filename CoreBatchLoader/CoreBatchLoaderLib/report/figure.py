"""A picture a geologist can read alone: image, depth axis, azimuth scale, scale bar, HU legend.

Every PNG the project draws (a core's thumbnail and unwrap, the well strip and the well's
unwrap) is a :class:`Sheet`: the image pasted as grey levels, then text and lines drawn by
Pillow (``PIL.ImageDraw``) in a font that ships with Pillow, so the pictures look the same on
every machine and keep the case of the files' names (``core_001``).  3D Slicer ships Pillow
(5.4–5.12); the command declares it; without it a picture is skipped with one line naming
``pip install Pillow`` (:data:`PILLOW_MISSING`).

The sheet is a palette picture: indices 0–254 are greys from black to white, 255 the accent
(orange: the cut marks, the cores' boundaries, a later overlay).  One byte a pixel: the
worker draws and deflates a third of what RGB would cost.  Text is drawn anti-aliased in an
8-bit grey image whose values are the palette's indices: dark ink on the white margins blends
into greys the palette holds.  Each label is rendered once per process (:func:`_ink`).  The
PNG is encoded by :mod:`.png` (rows Up-filtered, run-length deflate), not by Pillow: on an
unwrap's sheet Pillow's encoder took twice the time for a file three times larger (its palette
pictures are not filtered; 9 ms and 160 kB against 5 ms and 56 kB, 2026-12-06).
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from .png import write_png

PILLOW_MISSING = "pictures need Pillow: pip install Pillow"
GREYS = 255  # palette indices 0..254: greys, black to white
WHITE, ACCENT = GREYS - 1, GREYS
INK = 40  # text and axes: the grey of the report's ink (#1f2933 ≈ 40)
MUTED = 110  # secondary text (the window, the reference direction)
HATCH = 209  # intervals without core in the well pictures
ACCENT_RGB = (240, 130, 20)
PALETTE = np.vstack([np.repeat(np.round(np.linspace(0.0, 255.0, GREYS))[:, None], 3, axis=1),
                     [ACCENT_RGB]]).astype(np.uint8)
LABEL_PX = 13  # label text of a per-core picture (shown at full size when printed or opened)
TITLE_PX = 15
TICK = 5  # px of a tick mark

Window = Tuple[float, float]


class PillowMissing(ImportError):
    """Pillow cannot be imported: the pictures are skipped (the conversion is not affected)."""


def _pil() -> Tuple[Any, Any, Any]:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise PillowMissing(PILLOW_MISSING) from None
    return Image, ImageDraw, ImageFont


@lru_cache(maxsize=16)
def font(size: int) -> Any:
    """Pillow's own font at ``size`` px (a FreeType font bundled with Pillow ≥ 10.1), or its
    bitmap default on an older Pillow or one without FreeType: no system font is looked for."""
    _, _, ImageFont = _pil()
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, AttributeError, OSError, ImportError):
        return ImageFont.load_default()


def text_box(text: str, size: int = LABEL_PX) -> Tuple[int, int]:
    """(width, height) in px of ``text``'s ink drawn at ``size``."""
    return _ink(text, size)[0].size


COMPOSED = frozenset("0123456789.-°")  # labels of numbers: laid out from cached glyphs


@lru_cache(maxsize=256)
def _glyph(char: str, size: int) -> Tuple[np.ndarray, int, int, float]:
    """(coverage of one character's ink, its left and top offsets from the pen, its advance)."""
    face = font(size)
    mask, top = _ink(char, size)
    return np.asarray(mask), int(face.getbbox(char)[0]), top, float(face.getlength(char))


@lru_cache(maxsize=4096)
def _ink(text: str, size: int) -> Tuple[Any, int]:
    """(the coverage of ``text``'s ink box at ``size``, a Pillow "L" image; the box's top below
    the line's top).  Rendered once per process: a worker draws the same labels on every core.
    A number (digits, point, minus, degree) is laid out from its glyphs, each rendered once,
    at their advances: a core's depth labels are new numbers, ~10 µs each instead of ~0.4 ms
    through FreeType's layout; other text goes through Pillow's layout whole."""
    Image, ImageDraw, _ = _pil()
    face = font(size)
    if len(text) > 1 and set(text) <= COMPOSED:
        pen, placed = 0.0, []
        for char in text:
            glyph, left, glyph_top, advance = _glyph(char, size)
            placed.append((glyph, int(round(pen + left)), glyph_top))
            pen += advance
        x0 = min(x for _, x, _ in placed)
        y0 = min(y for _, _, y in placed)
        width = max(x + g.shape[1] for g, x, _ in placed) - x0
        height = max(y + g.shape[0] for g, _, y in placed) - y0
        coverage = np.zeros((max(1, height), max(1, width)), np.uint8)
        for glyph, x, y in placed:
            region = coverage[y - y0:y - y0 + glyph.shape[0], x - x0:x - x0 + glyph.shape[1]]
            np.maximum(region, glyph, out=region)
        return Image.fromarray(coverage), y0
    left, top, right, bottom = face.getbbox(text)
    mask = Image.new("L", (max(1, int(right - left)), max(1, int(bottom - top))), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=face)
    return mask, int(top)


def nice_step(wanted: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at least ``wanted`` (a scale's tick step)."""
    exponent = math.floor(math.log10(max(wanted, 1e-12)))
    for mantissa in (1, 2, 5, 10):
        step = mantissa * 10.0 ** exponent
        if step >= wanted * (1 - 1e-9):
            return step
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def largest_nice(limit: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ not above ``limit`` (a scale bar's length)."""
    exponent = math.floor(math.log10(max(limit, 1e-12)))
    for mantissa in (5, 2, 1):
        if mantissa * 10.0 ** exponent <= limit * (1 + 1e-9):
            return mantissa * 10.0 ** exponent
    return 10.0 ** exponent  # pragma: no cover - 1 × 10ⁿ ≤ limit by the choice of n


def ticks(first: float, last: float, length_px: float, min_spacing_px: float) -> Tuple[float, List[float]]:
    """(step, the multiples of it from ``first`` to ``last``): the smallest 1-2-5 step whose
    ticks, over ``length_px`` for the whole range, are at least ``min_spacing_px`` apart."""
    low, high = min(first, last), max(first, last)
    span = max(high - low, 1e-12)
    step = nice_step(span * min_spacing_px / max(length_px, 1.0))
    return step, [n * step for n in range(int(math.ceil(low / step - 1e-9)), int(math.floor(high / step + 1e-9)) + 1)]


def number_label(value: float, step: float, minus: str = "-") -> str:
    """``value`` with as many decimals as the tick ``step`` needs (0.05 m steps: two); ``minus``
    for its sign (the SVGs' real fonts have U+2212; Pillow's bundled font has not)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    text = "%.*f" % (decimals, value)
    return ("0" if text.strip("-0.") == "" else text).replace("-", minus)


def legend_width(window: Window, hounsfield: bool, bar_px: int, size: int = LABEL_PX) -> int:
    """Px that :meth:`Sheet.legend` takes across with a bar ``bar_px`` long (its title may be wider)."""
    return max(bar_px + text_box(number_label(window[1], 1.0), size)[0] // 2 + 2,
               text_box(window_title(window, hounsfield), size)[0])


def window_title(window: Window, hounsfield: bool) -> str:
    """What the grey legend says of its window."""
    low, high = ("%g" % v for v in window)
    if hounsfield:
        return "CT number (HU), window %s to %s" % (low, high)
    return "values (not HU), window %s to %s: their 0.5 and 99.5th percentiles" % (low, high)


class Sheet:
    """A picture being drawn: grey levels pasted from numpy, text and lines by Pillow."""

    def __init__(self, width: int, height: int) -> None:
        Image, ImageDraw, _ = _pil()
        self._image_module = Image
        self.image = Image.new("L", (int(width), int(height)), WHITE)
        self.draw = ImageDraw.Draw(self.image)

    @property
    def size(self) -> Tuple[int, int]:
        return self.image.size

    def paste(self, grey: np.ndarray, left: int, top: int) -> None:
        """Copy palette indices ``grey`` (uint8, rows × columns) with their top-left at (left, top)."""
        self.image.paste(self._image_module.fromarray(np.ascontiguousarray(grey, dtype=np.uint8)),
                         (int(left), int(top)))

    def text(self, x: float, y: float, text: str, size: int = LABEL_PX, anchor: str = "lt",
             fill: int = INK) -> Tuple[int, int, int, int]:
        """Draw ``text``: ``anchor`` is horizontal (l, m, r: its ink's left, middle, right) then
        vertical (t: the line's top, whatever the letters; m, b: its ink's middle, bottom),
        placed at (x, y); returns the box drawn (left, top, right, bottom)."""
        if not text:
            return int(x), int(y), int(x), int(y)
        mask, ink_top = _ink(text, size)
        width, height = mask.size
        x0 = int(round(x - {"l": 0.0, "m": width / 2.0, "r": width}[anchor[0]]))
        y0 = int(round(y + ink_top if anchor[1] == "t" else y - {"m": height / 2.0, "b": height}[anchor[1]]))
        self.image.paste(fill, (x0, y0), mask)
        return x0, y0, x0 + width, y0 + height

    def line(self, points: Sequence[Tuple[float, float]], fill: int = INK, width: int = 1) -> None:
        self.draw.line([(float(x), float(y)) for x, y in points], fill=fill, width=width)

    def rectangle(self, box: Tuple[float, float, float, float], fill: Optional[int] = None,
                  outline: Optional[int] = None) -> None:
        self.draw.rectangle(box, fill=fill, outline=outline)

    def depth_axis(self, x: int, y_top: float, y_bottom: float, top: float, bottom: float, title: str,
                   size: int = LABEL_PX, min_spacing: Optional[float] = None) -> None:
        """A vertical scale left of ``x``: value ``top`` at row ``y_top``, ``bottom`` at
        ``y_bottom``; ticks and labels at a 1-2-5 step; ``title`` (the unit) above it."""
        step, values = ticks(top, bottom, y_bottom - y_top, min_spacing or 2.6 * size)
        scale = (y_bottom - y_top) / ((bottom - top) or 1.0)
        self.line([(x - 1, y_top), (x - 1, y_bottom)])
        for value in values:
            y = y_top + (value - top) * scale
            self.line([(x - 1 - TICK, y), (x - 1, y)])
            self.text(x - TICK - 4, y, number_label(value, step), size, "rm")
        if title:
            self.text(x - 1, y_top - size // 2 - 2, title, size, "rb")

    def azimuth_axis(self, left: int, right: int, y: int, size: int = LABEL_PX) -> None:
        """An azimuth scale 0–360° along the row ``y`` (above an unwrap spanning ``left`` to
        ``right`` px): a tick every 30°, a label every 90°."""
        self.line([(left, y), (right, y)])
        width = right - left
        labelled = 90 if width >= 6 * text_box("270°", size)[0] else 180
        for degrees in range(0, 361, 30):
            x = left + degrees * width / 360.0
            long_tick = degrees % labelled == 0
            self.line([(x, y - (TICK + 2 if long_tick else TICK - 2)), (x, y)])
            if long_tick:
                self.text(x, y - TICK - 4, "%d°" % degrees, size, "mb")

    def legend(self, x: int, y: int, width: int, window: Window, hounsfield: bool, size: int = LABEL_PX,
               height: int = 10) -> int:
        """A grey ramp from the window's low (black) to high (white) end at (x, y), ``width`` px
        long, ticks at round values under it and the window named above; returns its bottom row."""
        low, high = window
        ramp = np.round(np.linspace(0.0, GREYS - 1.0, max(1, width))).astype(np.uint8)
        title_bottom = self.text(x, y, window_title(window, hounsfield), size, "lt", MUTED)[3]
        top = title_bottom + 4
        self.paste(np.repeat(ramp[None, :], height, axis=0), x, top)
        self.rectangle((x - 1, top - 1, x + width, top + height), outline=INK)
        label_w = text_box(number_label(high, (high - low) / 4), size)[0] + 8
        step, values = ticks(low, high, width, 1.6 * label_w)
        scale = width / ((high - low) or 1.0)
        inner = [v for v in values if min(v - low, high - v) * scale >= 1.2 * label_w]  # clear of the ends
        end_step = step if all(abs(v - round(v / step) * step) < 1e-9 * step for v in (low, high)) else \
            nice_step(abs(high - low) / 1000.0)
        for value in [low] + inner + [high]:
            at = x + (value - low) * scale
            self.line([(at, top + height), (at, top + height + TICK)])
            self.text(at, top + height + TICK + 2, number_label(value, step if value in inner else end_step), size, "mt")
        return top + height + TICK + 2 + text_box("0", size)[1]

    def scale_bar(self, x: int, y: int, px_per_mm: float, max_px: int, size: int = LABEL_PX) -> None:
        """A bar of a round length in mm (the longest 1-2-5 value that fits ``max_px``), its
        length written beside it; (x, y) its left end."""
        length = largest_nice(max_px / px_per_mm)
        px = max(1, int(round(length * px_per_mm)))
        self.rectangle((x, y - 2, x + px - 1, y + 1), fill=INK)
        self.line([(x, y - 5), (x, y + 4)])
        self.line([(x + px - 1, y - 5), (x + px - 1, y + 4)])
        self.text(x + px + 6, y, "%g mm" % length, size, "lm")

    def pixels(self) -> np.ndarray:
        """The palette indices drawn so far (a copy)."""
        return np.asarray(self.image).copy()

    def save(self, path: Union[str, Path]) -> Path:
        """Write the palette PNG atomically (:func:`.png.write_png`)."""
        return write_png(path, np.asarray(self.image), palette=PALETTE)
