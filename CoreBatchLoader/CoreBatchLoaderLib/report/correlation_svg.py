"""The depth match's correlation picture (SVG): the wireline curve and the cores' CT pseudo-log
(RHOB_CT, smoothed to the tool's response) against log depth, before the shifts (cores at
driller's depth) and after (at log depth), side by side on one depth scale.

As on a core-to-log correlation sheet: one depth column (m) on the left, two tracks with the
curve's scale and units in their header; the wireline in black, each core's pseudo-log in blue;
each core outlined beside the track (a bar from its top to its bottom, its name), an ambiguous
core's bar orange and marked "?", its curve dashed; a "not matched" core (no CT log) grey.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from ..files import write_text_atomically
from .figure import nice_step, number_label, ticks
from .log_svg import FONT, GRID, INK, MUTED, _minus, _nice_range, _polylines

FOLDER = "depth_match"  # the depth match's folder under the output folder
PICTURE_NAME = "correlation.svg"
WIRELINE = "#1f2933"
PSEUDO = "#1f5fbf"
AMBIGUOUS = "#d97706"
OUTLINE = "#7b8794"


@dataclass
class CorrelationCore:
    """One core: its driller's interval, its shift, its pseudo-log (driller's depths, curve units)."""

    name: str
    top_m: float
    bottom_m: float
    shift_m: float
    depth_m: np.ndarray
    values: np.ndarray
    status: str  # matched, ambiguous, not matched


def correlation_svg(cores: Sequence[CorrelationCore], wireline_depth_m: np.ndarray, wireline: np.ndarray,
                    curve: str, pseudo: str, font_px: int = 13, track_px: int = 220) -> str:
    """The picture's SVG text (module docstring)."""
    tops = [c.top_m + s for c in cores for s in (0.0, c.shift_m)]
    bottoms = [c.bottom_m + s for c in cores for s in (0.0, c.shift_m)]
    top_m = math.floor(min(tops) - 0.5) if tops else float(np.nanmin(wireline_depth_m))
    bottom_m = math.ceil(max(bottoms) + 0.5) if bottoms else float(np.nanmax(wireline_depth_m))
    px_per_m = float(np.clip(1600.0 / max(bottom_m - top_m, 1e-3), 6.0, 160.0))
    f = font_px
    header = 4 * f + 10
    height = int(header + (bottom_m - top_m) * px_per_m + f)
    axis = 56
    bar = 70  # the cores' outlines and names
    x_tracks = (axis, axis + track_px + bar + f)
    width = x_tracks[1] + track_px + bar + f
    y_of = lambda depth: header + (np.asarray(depth, float) - top_m) * px_per_m  # noqa: E731
    inside = (wireline_depth_m >= top_m) & (wireline_depth_m <= bottom_m) & np.isfinite(wireline)
    everything = np.concatenate([wireline[inside]] + [c.values[np.isfinite(c.values)] for c in cores])
    low, high = _nice_range(everything, nice_step(max(float(np.ptp(everything)) if everything.size else 1.0, 1e-9) / 4.0))
    to_x = lambda x0, v: x0 + (np.clip(v, low, high) - low) * track_px / (high - low)  # noqa: E731
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'style="%s;font-size:%dpx">' % (width, height, width, height, FONT, f),
             '<title>Depth match: %s and %s, before and after the shifts</title>' % (html.escape(curve), html.escape(pseudo)),
             '<rect width="100%" height="100%" fill="#fff"/>']
    parts += _depth_axis(axis, width, top_m, bottom_m, y_of, f, px_per_m)
    for x0, title, after in ((x_tracks[0], "before: driller's depth", False), (x_tracks[1], "after: log depth", True)):
        parts.append('<text x="%d" y="%d" fill="%s" font-weight="600">%s</text>' % (x0, f + 2, INK, title))
        parts.append('<text x="%d" y="%d" fill="%s">%s</text>' % (x0, 2 * f + 6, WIRELINE, html.escape(curve)))
        parts.append('<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>' % (
            x0 + track_px, 2 * f + 6, PSEUDO, html.escape(pseudo)))
        parts.append('<text x="%d" y="%d" fill="%s">%s</text>' % (x0, header - 6, MUTED, _minus(low)))
        parts.append('<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>' % (x0 + track_px, header - 6, MUTED,
                                                                                    _minus(high)))
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>' % (
            x0, header, track_px, height - header - f, MUTED))
        parts += _polylines(to_x(x0, wireline), y_of(wireline_depth_m), np.isfinite(wireline) & inside, WIRELINE, 1.4)
        for core in cores:
            shift = core.shift_m if after else 0.0
            colour = AMBIGUOUS if core.status == "ambiguous" else PSEUDO
            lines = _polylines(to_x(x0, core.values), y_of(core.depth_m + shift), np.isfinite(core.values), colour, 2.0)
            if core.status == "ambiguous":
                lines = [line.replace("/>", ' stroke-dasharray="5 3"/>') for line in lines]
            parts += lines
            parts += _outline(core, x0 + track_px + 6, y_of(core.top_m + shift), y_of(core.bottom_m + shift), f)
    parts.append('<text x="%d" y="%d" fill="%s" font-size="%d">cores outlined at right; '
                 '<tspan fill="%s">? ambiguous: featureless, kept at the neighbours\' shift</tspan></text>' % (
                     axis, 3 * f + 6, MUTED, f - 1, AMBIGUOUS))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def correlation_picture(output_dir: Path) -> Optional[Path]:
    """The depth match's picture in ``output_dir`` (``depth-match`` wrote it), for the report."""
    picture = Path(output_dir) / FOLDER / PICTURE_NAME
    return picture if picture.is_file() else None


def write_correlation_svg(path: Path, cores: Sequence[CorrelationCore], wireline_depth_m: np.ndarray,
                          wireline: np.ndarray, curve: str, pseudo: str, durable: bool = True) -> Path:
    write_text_atomically(path, correlation_svg(cores, np.asarray(wireline_depth_m, float),
                                                np.asarray(wireline, float), curve, pseudo), durable=durable)
    return path


def _outline(core: CorrelationCore, x: float, y0: float, y1: float, f: int) -> List[str]:
    colour = AMBIGUOUS if core.status == "ambiguous" else OUTLINE if core.status == "matched" else "#cbd2d9"
    parts = ['<rect x="%.1f" y="%.1f" width="8" height="%.1f" fill="%s" fill-opacity="0.35" stroke="%s"/>' % (
        x, y0, max(y1 - y0, 1.0), colour, colour)]
    label = core.name + (" ?" if core.status == "ambiguous" else "")
    if y1 - y0 >= f * 0.9:
        parts.append('<text x="%.1f" y="%.1f" fill="%s" font-size="%d" dominant-baseline="middle">%s</text>' % (
            x + 11, (y0 + y1) / 2.0, colour if core.status != "matched" else MUTED, f - 2, html.escape(label)))
    return parts


def _depth_axis(x_axis: int, right: int, top_m: float, bottom_m: float, y_of: object, f: int,
                px_per_m: float) -> List[str]:
    step, depths = ticks(top_m, bottom_m, (bottom_m - top_m) * px_per_m, 2.4 * f)
    parts = ['<text x="%d" y="%d" text-anchor="end" fill="%s">m</text>' % (x_axis - 8, 4 * f + 4, MUTED)]
    for depth in depths:
        y = float(y_of(depth))  # type: ignore[operator]
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>' % (x_axis - 6, right, y, y, GRID))
        parts.append('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="%s">%s</text>' % (
            x_axis - 8, y, INK, number_label(depth, step, "\u2212")))
    return parts
