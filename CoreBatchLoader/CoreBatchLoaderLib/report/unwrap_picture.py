"""The picture of one core's unwrap (``unwrap/<core>_unwrap.png``), readable alone.

The unwrapped surface (:mod:`..analysis.unwrap`) in the report's grey window, aspect true to
its spacing (mm of arc across, slice spacing down), with what a borehole-image sheet carries:

- **depth** down the left: metres when the core's depth is known (the unwrap's
  ``unwrap_first_row_depth_m`` key), else millimetres from the core's top;
- **azimuth** 0–360° across the top, and under the image what 0° is: the slice's +i (column)
  axis, θ growing toward +j (row) — the unwrap's own convention, θ = 360° × (c + 0.5) / W for
  column c of W;
- a **grey legend** with the window in HU (or the percentiles used on data that are not HU).

:class:`UnwrapView` is the picture's image with its pixel ↔ (depth, azimuth) mapping, so an
overlay (picked planes' sinusoids) draws in the same coordinates: pass ``overlay`` to
:func:`unwrap_picture`, a function of the :class:`.figure.Sheet` and the view.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np

from ..analysis.unwrap import FIRST_ROW_KEY, RADIUS_KEY
from ..nrrd.reader import read_header
from ..nrrd.writer import KEY_PREFIX
from .figure import GREYS, LABEL_PX, MUTED, TICK, TITLE_PX, Sheet, legend_width, number_label, text_box, ticks
from .thumbnails import ROCK_CT_WINDOW, Window, choose_window, fitted_shape, read_resampled, to_grey

MARGIN = 10
REFERENCE = "azimuth: 0° = the slices' +i (column) axis, growing toward +j (row)"


@dataclass
class UnwrapView:
    """An unwrap's picture (grey levels) placed in its PNG, and the mapping of its pixels.

    ``left``/``top``: the PNG pixel of the image's top-left corner; the image spans
    ``length_mm`` of core down (row 0's top edge = the core's top) and 360° across.
    ``top_depth_m``: the depth of the core's top (None: the core's depth is not known).
    """

    core: str
    grey: np.ndarray  # palette indices, (height, width)
    window: Window
    hounsfield: bool
    length_mm: float
    top_depth_m: Optional[float] = None
    radius_mm: Optional[float] = None
    left: int = 0
    top: int = 0

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    def xy(self, distance_mm: Any, azimuth_deg: Any) -> Tuple[Any, Any]:
        """PNG pixel coordinates (x, y; continuous, pixel centres at +0.5) of the point
        ``distance_mm`` below the core's top at azimuth ``azimuth_deg`` (numbers or arrays)."""
        x = self.left + np.mod(azimuth_deg, 360.0) * self.width / 360.0
        y = self.top + np.asarray(distance_mm, dtype=float) * self.height / self.length_mm
        return x, y

    def xy_of_depth(self, depth_m: Any, azimuth_deg: Any) -> Tuple[Any, Any]:
        """As :meth:`xy` for a depth in metres (needs the core's depth)."""
        if self.top_depth_m is None:
            raise ValueError("%s: the unwrap has no depth (no %s key)" % (self.core, FIRST_ROW_KEY))
        return self.xy((np.asarray(depth_m, dtype=float) - self.top_depth_m) * 1000.0, azimuth_deg)

    def at(self, x: Any, y: Any) -> Tuple[Any, Any]:
        """(distance below the core's top in mm, azimuth in degrees) of PNG pixel coordinates."""
        distance = (np.asarray(y, dtype=float) - self.top) * self.length_mm / self.height
        azimuth = (np.asarray(x, dtype=float) - self.left) * 360.0 / self.width
        return distance, azimuth


def read_unwrap_view(nrrd_path: Union[str, Path], window: Optional[Window] = ROCK_CT_WINDOW,
                     max_size: int = 512) -> UnwrapView:
    """The unwrap (2-D NRRD, top row first) resampled to fit ``max_size`` px, in the window.

    Memory: the picture's rows are made from blocks of the file's rows
    (:func:`.thumbnails.read_resampled`), so a long core's unwrap is never in memory whole.
    The window is chosen as :func:`.thumbnails.choose_window` does, the share of values inside
    it counted on every value of the file; when it falls back to percentiles, they are those
    of the picture's block means.
    """
    header = read_header(nrrd_path)
    columns, rows = header.sizes[0], header.sizes[1]
    arc_mm, row_mm = header.spacing[0], header.spacing[1]
    picture, counted = read_resampled(header, fitted_shape((rows * row_mm, columns * arc_mm), max_size),
                                      window or ROCK_CT_WINDOW)
    low, high = choose_window(picture, window, counted)
    keys = header.key_values
    first_row = _number(keys.get(FIRST_ROW_KEY))
    return UnwrapView(core=keys.get(KEY_PREFIX + "core") or Path(nrrd_path).stem.replace("_unwrap", ""),
                      grey=to_grey(picture, low, high, GREYS), window=(low, high),
                      hounsfield=window is not None and (low, high) == tuple(window),
                      length_mm=rows * row_mm,
                      top_depth_m=None if first_row is None else first_row - row_mm / 2000.0,
                      radius_mm=_number(keys.get(RADIUS_KEY)))


def draw_unwrap(view: UnwrapView, overlay: Optional[Callable[[Sheet, UnwrapView], None]] = None) -> Sheet:
    """The sheet: title, azimuth scale, depth axis, the image, the reference direction and the
    grey legend; ``view.left``/``view.top`` are set to where the image lands."""
    size = LABEL_PX
    depth_known = view.top_depth_m is not None
    first = view.top_depth_m if depth_known else 0.0
    span = view.length_mm / 1000.0 if depth_known else view.length_mm
    step, values = ticks(first, first + span, view.height, 2.6 * size)
    unit = "depth (m)" if depth_known else "mm from top"
    label_w = max([text_box(number_label(v, step), size)[0] for v in values] + [0])
    left = MARGIN + max(label_w + TICK + 4, text_box(unit, size)[0] + 18)
    title = "%s: unwrapped surface%s" % (view.core, "" if view.radius_mm is None else
                                          ", radius %g mm" % round(view.radius_mm, 1))
    label_h = text_box("0°", size)[1]
    axis_y = MARGIN + text_box(title, TITLE_PX)[1] + 10 + label_h + TICK + 4
    top = axis_y + 1
    reference_w, reference_h = text_box(REFERENCE, size)
    legend_w = max(160, min(view.width, 320))
    width = max(left + view.width + MARGIN + 12, MARGIN + reference_w + MARGIN,
                left + legend_width(view.window, view.hounsfield, legend_w, size) + MARGIN)
    height = top + view.height + 8 + reference_h + 12 + 2 * text_box("Hg", size)[1] + 10 + TICK + 12 + MARGIN
    sheet = Sheet(width, height)
    view.left, view.top = left, top
    sheet.text(MARGIN, MARGIN, title, TITLE_PX)
    sheet.paste(view.grey, left, top)
    sheet.azimuth_axis(left, left + view.width, axis_y, size)
    sheet.text(left - 18, axis_y - TICK - 4, unit, size, "rb")
    sheet.depth_axis(left, top, top + view.height, first, first + span, "", size)
    y = top + view.height + 8
    sheet.text(MARGIN, y, REFERENCE, size, "lt", MUTED)
    sheet.legend(left, y + reference_h + 12, legend_w, view.window, view.hounsfield, size)
    if overlay is not None:
        overlay(sheet, view)
    return sheet


def unwrap_picture(nrrd_path: Union[str, Path], png_path: Union[str, Path], *,
                   window: Optional[Window] = ROCK_CT_WINDOW, max_size: int = 512,
                   overlay: Optional[Callable[[Sheet, UnwrapView], None]] = None) -> Path:
    """Draw an unwrapped core (2-D NRRD) into ``png_path`` (see the module docstring)."""
    return draw_unwrap(read_unwrap_view(nrrd_path, window, max_size), overlay).save(png_path)


def _number(text: Optional[str]) -> Optional[float]:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
