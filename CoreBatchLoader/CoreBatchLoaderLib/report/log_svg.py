"""The CT log drawn as SVG: the well's log track beside the well strip, a small profile per core.

SVG because a log is lines and text: sharp at any zoom, real fonts, a few tens of kB whatever
the well's length.  Depth runs down the page, as on a core log; the CT track shows the mean CT
number as a line through the depth-ordered samples — averaged per pixel row where there are
more samples than rows, so a noisy log at 1 mm over metres is a trace, not a comb of
horizontal spikes — with its P10–P90 band (shaded, edged); the second track the equivalent
diameter.  Where there is no core (between cores, a gap, a slice without a cross-section) the
lines break.  The picture names itself (the well's or the core's name, visible, not only in
``<title>``), each track and its unit, and the depth axis; every element is plain SVG 1.1 that
strict renderers (cairosvg, rsvg) draw as browsers do.

The vertical geometry is given by the caller, so the well's track lines up row for row with
the well strip (:mod:`..well.strip`): ``top_px`` is where depth ``top_s`` is drawn,
``height_px`` spans the interval, ``total_height_px`` is the picture's height.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from ..analysis.ct_log import DISTANCE_COLUMN, read_log_csv, statistic
from ..files import write_text_atomically
from .figure import number_label, ticks

INK = "#1f2933"
MUTED = "#616e7c"
BAND = "#8fb6e3"
BAND_EDGE = "#4f86c6"
MEAN = "#1f5fbf"
DIAMETER = "#b45309"
BOUNDARY = "#f08214"
GRID = "#e4e7eb"
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif"


class LogTrack:
    """A log track: depth interval (S, mm: ``top_s`` > ``bottom_s``), cores added, then drawn.

    Sizes are in picture pixels; the report shows the well's track about 0.45× (beside a strip
    of ~1,450 rows shown 640 px high), hence the large default font.
    """

    def __init__(self, top_s: float, bottom_s: float, title: str, height_px: int = 1400, top_px: int = 96,
                 total_height_px: Optional[int] = None, ct_width: int = 480, diameter_width: int = 190,
                 axis_width: int = 150, font_px: int = 24, depth_title: str = "depth (m)") -> None:
        self.top_s, self.bottom_s = float(top_s), float(bottom_s)
        self.title, self.depth_title = title, depth_title
        self.height_px, self.top_px = int(height_px), int(top_px)
        self.total_height_px = int(total_height_px or top_px + height_px + font_px)
        self.ct_width, self.diameter_width, self.axis_width, self.font_px = ct_width, diameter_width, axis_width, font_px
        self.mm_per_px = (self.top_s - self.bottom_s) / float(self.height_px)
        self.cores: List[Tuple[str, float, float]] = []  # name, top m, bottom m
        self._curves: List[np.ndarray] = []  # per core: (points, 5): y, mean, p10, p90, diameter

    def y_of_depth(self, depth_m: Any) -> Any:
        """Picture row of ``depth_m`` (a number or an array of them)."""
        return self.top_px + (self.top_s + 1000.0 * depth_m) / self.mm_per_px

    def add_core(self, name: str, top_m: float, bottom_m: float, depth_m: np.ndarray, rows: np.ndarray) -> None:
        """A core's rows (STATISTICS columns) at the slice-centre depths ``depth_m``.  Slices
        denser than the picture's rows are averaged per row; sparser ones are joined by lines."""
        self.cores.append((name, float(top_m), float(bottom_m)))
        columns = [statistic(c) for c in ("CTMEAN", "CTP10", "CTP90", "DIAM")]
        y = self.y_of_depth(np.asarray(depth_m, dtype=float))
        order = np.argsort(y)
        points = np.column_stack([y[order], rows[order][:, columns]])
        if len(points) > np.ptp(y) + 1.0:  # more slices than rows: the mean of each row
            row = np.floor(points[:, 0]).astype(int)
            row -= row.min()
            counts = np.bincount(row)
            sums = np.column_stack([np.bincount(row, weights=points[:, n]) for n in range(5)])
            with np.errstate(invalid="ignore", divide="ignore"):
                points = (sums / counts[:, None])[counts > 0]  # NaN stays NaN: a row with a gap breaks
        self._curves.append(points)

    def svg(self) -> str:
        every = np.concatenate(self._curves) if self._curves else np.full((0, 5), np.nan)
        bands = every[:, 2:4][np.isfinite(every[:, 2:4])]
        ct_low, ct_high = _nice_range(bands, 250.0)
        d_low, d_high = _nice_range(every[:, 4][np.isfinite(every[:, 4])], 5.0)
        x_ct = self.axis_width
        x_d = x_ct + self.ct_width + self.font_px
        width = x_d + self.diameter_width + self.font_px // 2
        f = self.font_px
        parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
                 'style="%s;font-size:%dpx">' % (width, self.total_height_px, width, self.total_height_px, FONT, f),
                 '<title>%s</title>' % html.escape(self.title),
                 '<rect width="100%" height="100%" fill="#fff"/>',
                 '<text x="%d" y="%d" fill="%s" font-weight="600">%s</text>' % (
                     f // 2, f + 2, INK, html.escape("%s: CT log" % self.title))]
        top = self.top_px
        for x0, w in ((x_ct, self.ct_width), (x_d, self.diameter_width)):  # grey: no core
            parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#eef1f4"/>' % (x0, top, w, self.height_px))
        for _, top_m, bottom_m in self.cores:
            y0, y1 = self.y_of_depth(top_m), self.y_of_depth(bottom_m)
            for x0, w in ((x_ct, self.ct_width), (x_d, self.diameter_width)):
                parts.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#fff"/>' % (x0, y0, w, max(0.0, y1 - y0)))
        parts += self.depth_axis(x_ct, width)
        for x0, w in ((x_ct, self.ct_width), (x_d, self.diameter_width)):
            parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s" stroke-width="1.5"/>' % (
                x0, top, w, self.height_px, MUTED))
        stroke = max(1.5, f / 9.0)
        for _, top_m, bottom_m in self.cores:
            for y in (self.y_of_depth(top_m), self.y_of_depth(bottom_m)):
                parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"/>' % (
                    x_ct, x_d + self.diameter_width, y, y, BOUNDARY, stroke))
        to_x_ct = lambda v: x_ct + (np.clip(v, ct_low, ct_high) - ct_low) * self.ct_width / (ct_high - ct_low)  # noqa: E731
        to_x_d = lambda v: x_d + (np.clip(v, d_low, d_high) - d_low) * self.diameter_width / (d_high - d_low)  # noqa: E731
        for points in self._curves:
            y, mean, p10, p90, diameter = points.T
            for run in _runs(np.isfinite(p10) & np.isfinite(p90)):
                run = np.repeat(run, 2) if len(run) == 1 else run
                ys = y[run] + (np.array([-0.5, 0.5]) if len(set(run.tolist())) == 1 else 0.0)
                right = ["%.1f,%.1f" % (a, b) for a, b in zip(to_x_ct(p90[run]), ys)]
                left = ["%.1f,%.1f" % (a, b) for a, b in zip(to_x_ct(p10[run]), ys)]
                parts.append('<polygon points="%s" fill="%s" fill-opacity="0.75" stroke="none"/>' % (
                    " ".join(right + left[::-1]), BAND))
                for edge in (left, right):
                    parts.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"/>' % (
                        " ".join(edge), BAND_EDGE, 0.5 * stroke))
            parts += _polylines(to_x_ct(mean), y, np.isfinite(mean), MEAN, 1.6 * stroke)
            parts += _polylines(to_x_d(diameter), y, np.isfinite(diameter), DIAMETER, 1.6 * stroke)
        parts += self._scales(x_ct, x_d, (ct_low, ct_high), (d_low, d_high))
        parts.append("</svg>")
        return "\n".join(parts) + "\n"

    def depth_axis(self, x_axis: int, right: int) -> List[str]:
        """Depth ticks and labels (m) left of ``x_axis``, grid lines across to ``right`` (SVG elements)."""
        parts = []
        top_m, bottom_m = -self.top_s / 1000.0, -self.bottom_s / 1000.0
        step, depths = ticks(top_m, bottom_m, self.height_px, 2.2 * self.font_px)
        for depth in depths:
            y = self.y_of_depth(depth)
            parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>' % (x_axis - 8, right, y, y, GRID))
            parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>' % (
                x_axis - 8, x_axis, y, y, INK))
            parts.append('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="%s">%s</text>' % (
                x_axis - 12, y, INK, number_label(depth, step, "\u2212")))
        return parts

    def _scales(self, x_ct: int, x_d: int, ct: Tuple[float, float], d: Tuple[float, float]) -> List[str]:
        """Curve names and the ends of each scale, above the tracks (in the strip's top margin)."""
        y = self.top_px - 6
        # the curve names a line above the scale ends, under the picture's title (the margin
        # holds three lines: :data:`..well.strip.HEADER`, the profile's top_px)
        title_y = y - self.font_px - 2
        small = int(round(0.8 * self.font_px))
        return [
            '<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>' % (x_ct - 12, title_y, MUTED,
                                                                         html.escape(self.depth_title)),
            '<text x="%d" y="%d" fill="%s" font-size="%d">%s</text>' % (x_ct, y, MUTED, small, _minus(ct[0])),
            '<text x="%d" y="%d" text-anchor="middle" fill="%s">CT mean, <tspan fill="%s">P10–P90</tspan> (HU)</text>' % (
                x_ct + self.ct_width // 2, title_y, MEAN, BAND_EDGE),
            '<text x="%d" y="%d" text-anchor="end" fill="%s" font-size="%d">%s</text>' % (
                x_ct + self.ct_width, y, MUTED, small, _minus(ct[1])),
            '<text x="%d" y="%d" text-anchor="middle" fill="%s">Ø (mm)</text>' % (
                x_d + self.diameter_width // 2, title_y, DIAMETER),
            '<text x="%d" y="%d" fill="%s" font-size="%d">%s</text>' % (x_d, y, MUTED, small, _minus(d[0])),
            '<text x="%d" y="%d" text-anchor="end" fill="%s" font-size="%d">%s</text>' % (
                x_d + self.diameter_width, y, MUTED, small, _minus(d[1])),
        ]


def write_log_track(path: Path, track: LogTrack, durable: bool = True) -> Path:
    write_text_atomically(path, track.svg(), durable=durable)
    return path


def core_profile(csv_path: Path, svg_path: Path, title: str, durable: bool = True) -> Optional[Path]:
    """A small profile of one core's log (no depths: along the core from its top), or None when
    the log has no row with a core."""
    column, first_values, _, rows = read_log_csv(csv_path)
    if not np.isfinite(rows[:, 0]).any() or not len(first_values):
        return None
    distance_mm = np.asarray(first_values, dtype=float)
    if column != DISTANCE_COLUMN:  # at depth (DEPT[M]): the profile runs from the core's top all the same
        distance_mm = (distance_mm - distance_mm.min()) * 1000.0
    # the last slice centre + half a slice; a core of one slice still gets a millimetre of track
    length = max(float(distance_mm.max() + distance_mm.min()), 1.0)
    # the CT track wide enough for its name ("CT mean, P10–P90 (HU)", ~150 px at 13 px) to stay
    # clear of the diameter's
    track = LogTrack(0.0, -length, title, height_px=240, top_px=58, total_height_px=276, ct_width=180,
                     diameter_width=70, axis_width=52, font_px=13, depth_title="m")
    track.add_core(title, 0.0, length / 1000.0, distance_mm / 1000.0, rows)
    return write_log_track(svg_path, track, durable)


def _runs(valid: np.ndarray) -> List[np.ndarray]:
    """Index arrays of the consecutive runs of True in ``valid``."""
    edges = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return [np.arange(a, b) for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0])]


def _polylines(x: np.ndarray, y: np.ndarray, valid: np.ndarray, colour: str, width: float) -> List[str]:
    """One polyline per run of valid rows (a lone row: a one-pixel stroke)."""
    parts = []
    for run in _runs(valid):
        xs, ys = x[run], y[run]
        if len(run) == 1:
            xs, ys = np.repeat(xs, 2), ys + np.array([-0.5, 0.5])
        points = " ".join("%.1f,%.1f" % (a, b) for a, b in zip(xs, ys))
        parts.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f" '
                     'stroke-linejoin="round"/>' % (points, colour, width))
    return parts


def _nice_range(values: np.ndarray, unit: float) -> Tuple[float, float]:
    """The 1st–99th percentile of ``values`` widened to multiples of ``unit`` (never empty)."""
    if values.size == 0:
        return 0.0, unit
    low, high = np.percentile(values, [1, 99])
    low, high = math.floor(low / unit) * unit, math.ceil(high / unit) * unit
    return (low, high) if high > low else (low, low + unit)


def _minus(value: float) -> str:
    return ("%g" % value).replace("-", "\u2212")


