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
- **Readable alone.** A title naming the well, the depth in metres on the left, the window's
  grey legend in HU under the strip; the well's unwrap (``azimuth=True``) also has the 0–360°
  azimuth scale above it and its reference direction under it, as each core's unwrap picture
  (:mod:`..report.unwrap_picture`).  Text and lines by Pillow (:mod:`..report.figure`), at a
  size that stays readable when the report shows the picture at 640 px high.  Both pictures
  have the same header and footer, so the strip, the unwrap and the CT log track
  (:mod:`..report.log_svg`, given :attr:`WellStrip.top_px` and :attr:`WellStrip.picture_height`)
  line up row for row side by side.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..report.figure import ACCENT, GREYS, HATCH, MUTED, TICK, WHITE, Sheet, legend_width, number_label, text_box, ticks
from ..report.thumbnails import ROCK_CT_WINDOW, choose_window, resample_axis, to_grey
from ..report.unwrap_picture import REFERENCE
from .placement import Grid

STRIP_HEIGHT = 1400  # px for the whole cored interval
MIN_STRIP_WIDTH = 64  # px; narrower to-scale strips are widened (see the module docstring)
LABEL_PX = 24  # the report shows the picture at ~0.45x: 24 px labels read as ~11 px
TITLE_PX = 26
MIN_TICK_SPACING = 2.2 * LABEL_PX  # px between depth labels
MARGIN = 14
LEGEND_PX = 320  # the grey legend's ramp
NAME_LIMIT = 18  # characters of a core name shown
GAP_HATCH = HATCH  # the palette index of the hatching where there is no core
HEADER = MARGIN + TITLE_PX + 14 + LABEL_PX + TICK + 10  # px above the interval's top row
FOOTER = 12 + LABEL_PX + 14 + LABEL_PX + 4 + 14 + TICK + 2 + LABEL_PX + MARGIN  # px below its bottom row


class WellStrip:
    """The strip's pixels (as values, NaN where there is no core) and its cores' intervals.

    ``top_s``/``bottom_s``: the interval drawn (S, mm); ``width_mm``: the widest core.
    ``title``: the picture's first line (the well's name, what it shows); ``azimuth``: the
    strip is of unwraps (an azimuth scale above, the reference direction under it).
    """

    def __init__(self, top_s: float, bottom_s: float, width_mm: float, height: int = STRIP_HEIGHT,
                 max_width: Optional[int] = None, title: str = "", azimuth: bool = False) -> None:
        self.title, self.azimuth = title, azimuth
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
        """The picture's row of the interval's top: below the title and the scales' labels."""
        return HEADER

    @property
    def stretched(self) -> bool:
        """Drawn wider or narrower than to scale (the picture then says so under the strip)."""
        return abs(math.log(self.exaggeration)) > 0.05 if self.exaggeration > 0 else False

    @property
    def picture_height(self) -> int:
        """Rows of the rendered picture (a log track drawn beside it takes the same)."""
        return self.top_px + self.height + FOOTER

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

    def render(self, window: Optional[Tuple[float, float]] = ROCK_CT_WINDOW) -> Sheet:
        """The picture (see the module docstring) as a :class:`..report.figure.Sheet`."""
        top_m, bottom_m = -self.top_s / 1000.0, -self.bottom_s / 1000.0
        step, depths = ticks(top_m, bottom_m, self.height, MIN_TICK_SPACING)
        labels = [number_label(d, step) for d in depths]
        unit = "depth (m)"
        label_w = max([text_box(text, LABEL_PX)[0] for text in labels] + [0])
        # the unit stands left of the azimuth scale's "0°", centred on the strip's left edge
        strip_x = MARGIN + max(label_w + TICK + 6, text_box(unit, LABEL_PX)[0] + text_box("0°", LABEL_PX)[0] // 2 + 12)
        strip_y = self.top_px
        names = [name[:NAME_LIMIT] for name, _, _ in self.cores]
        names_w = max([text_box(n, LABEL_PX)[0] for n in names] + [0])
        finite = self.values[np.isfinite(self.values)]
        low, high = choose_window(finite, window) if finite.size else (window or ROCK_CT_WINDOW)
        hounsfield = window is not None and (low, high) == tuple(window)
        notes = []
        if self.stretched:  # say so: a strip drawn wider than to scale must not pass for true scale
            notes.append("width x%.0f" % self.exaggeration if self.exaggeration >= 2 else
                         "width x%.1f" % self.exaggeration)
        if self.azimuth:
            notes.append(REFERENCE)
        note = "; ".join(notes)
        width = max(strip_x + self.width + TICK + 8 + names_w, MARGIN + text_box(self.title, TITLE_PX)[0],
                    MARGIN + text_box(note, LABEL_PX)[0], strip_x + legend_width((low, high), hounsfield, LEGEND_PX,
                                                                                  LABEL_PX)) + MARGIN
        sheet = Sheet(width, self.picture_height)
        sheet.text(MARGIN, MARGIN, self.title, TITLE_PX)
        self._draw_strip(sheet, strip_y, strip_x, (low, high))
        axis_y = strip_y - 1
        if self.azimuth:
            sheet.azimuth_axis(strip_x, strip_x + self.width, axis_y, LABEL_PX)
        sheet.text(MARGIN, axis_y - TICK - 4, unit, LABEL_PX, "lb")
        sheet.line([(strip_x - 1, strip_y), (strip_x - 1, strip_y + self.height)])  # the depth axis
        for depth, label in zip(depths, labels):
            y = strip_y + self.row_of(-1000.0 * depth)
            sheet.line([(strip_x - 1 - TICK, y), (strip_x - 1, y)], width=2)
            sheet.text(strip_x - TICK - 6, y, label, LABEL_PX, "rm")
        name_x = strip_x + self.width + TICK + 8
        last_name_bottom = -1
        for (name, top, bottom), shown in zip(self.cores, names):
            for s in (top, bottom):
                y = min(strip_y + self.height - 1, strip_y + self.row_of(s))
                sheet.line([(strip_x, y), (strip_x + self.width + TICK, y)], fill=ACCENT)
            y_mid = strip_y + (self.row_of(top) + self.row_of(bottom)) // 2
            if y_mid - LABEL_PX // 2 > last_name_bottom:
                last_name_bottom = sheet.text(name_x, y_mid, shown, LABEL_PX, "lm")[3] + 2
        y = strip_y + self.height + 12
        if note:
            sheet.text(MARGIN, y, note, LABEL_PX, "lt", MUTED)
        sheet.legend(strip_x, y + LABEL_PX + 14, LEGEND_PX, (low, high), hounsfield, LABEL_PX, height=14)
        return sheet

    def _draw_strip(self, sheet: Sheet, top: int, left: int, window: Tuple[float, float]) -> None:
        """The cores' grey levels; white beside a narrower core; hatched where no core is."""
        low, high = window
        grey = to_grey(np.nan_to_num(self.values, nan=low), low, high, GREYS)
        empty = ~np.isfinite(self.values)
        rows_without_core = empty.all(axis=1)
        yy, xx = np.mgrid[0:self.height, 0:self.width]
        hatch = ((yy + xx) % 8) < 2
        grey[empty & ~rows_without_core[:, None]] = WHITE  # beside a narrower core
        grey[rows_without_core[:, None] & ~hatch] = WHITE
        grey[rows_without_core[:, None] & hatch] = GAP_HATCH
        sheet.paste(grey, left, top)

    def write(self, path: Path) -> Path:
        return self.render().save(path)


class CoreSection:
    """Collects the middle row of each of a core's slices, then draws the section into the strip."""

    def __init__(self, strip: WellStrip, name: str, placed: Grid, flip: bool) -> None:
        self._strip, self._name, self._placed, self._flip = strip, name, placed, flip
        self._row = placed.sizes[1] // 2
        self._rows: List[np.ndarray] = []

    def add(self, voxels: np.ndarray) -> None:
        self._rows.append(np.asarray(voxels[self._row], dtype=np.float32))

    def finish(self) -> Optional[np.ndarray]:
        """Draw the section; return it (slices × columns, in file order: it does not depend on the
        core's depth, so :meth:`draw` can place it again elsewhere), None when no slice came."""
        if not self._rows:
            return None
        section = np.stack(self._rows)
        self._rows = []
        self.draw(section)
        return section

    def draw(self, section: np.ndarray) -> None:
        """Paste ``section`` (as :meth:`finish` returns it) into the strip at the core's place."""
        # Unflipped cores have k = 0 on top; flipped ones k = last.  Columns: i runs along +R in
        # both placements, so no column flip is needed.
        self._strip.paste(self._name, self._placed, section[::-1] if self._flip else section)
