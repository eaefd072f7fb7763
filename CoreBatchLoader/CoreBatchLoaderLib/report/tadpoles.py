"""The planes drawn: the well's tadpole track (``well_planes.svg``) and each core's picked
sinusoids over its unwrap picture.

**Tadpoles** (borehole-image practice): one per plane, the dot at its dip on a 0–90° scale and
at its depth, the tail pointing toward its dip azimuth — up is 0°, clockwise, in the core's own
reference (θ = 0° the slices' +i axis: cores are rarely oriented); a filled dot is a bed
(brighter than the rock around it), an open one a fracture (darker).  The track takes the CT
log track's vertical geometry (:class:`.log_svg.LogTrack`: the same depth interval, rows and
depth axis), so the two stand side by side on one depth scale in the report.  Each tadpole is
``<g class="tadpole" data-depth-m=… data-dip-deg=… data-azimuth-deg=… data-kind=…>`` with a
``<title>`` for the pointer.

**Sinusoids** over a core's unwrap picture (:func:`.unwrap_picture.unwrap_picture`'s
``overlay``): z(θ) = z₀ + r·tan δ·cos(θ − ψ) (:mod:`..planes.sinusoid`), beds in the accent
colour, fractures in white, each numbered as in its core's table.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Callable, List, Sequence

import numpy as np

from ..files import write_text_atomically
from ..planes.sinusoid import Sinusoid
from ..planes.tables import PlaneRow
from .figure import ACCENT, LABEL_PX, WHITE, Sheet
from .log_svg import FONT, GRID, INK, MUTED, LogTrack

BED = "#b45309"
FRACTURE = "#1f5fbf"
TRACK_PX = 360
TAIL = 2.6  # tail length in dot radii


def tadpole_track_svg(rows: Sequence[PlaneRow], geometry: LogTrack, title: str) -> str:
    """The tadpole track of ``rows`` (depths in metres) on ``geometry``'s depth scale."""
    f = geometry.font_px
    x0 = geometry.axis_width
    width = x0 + TRACK_PX + f
    height = geometry.total_height_px
    top, bottom = geometry.top_px, geometry.top_px + geometry.height_px
    radius = max(5.0, f / 3.0)
    to_x = lambda dip: x0 + min(max(dip, 0.0), 90.0) * TRACK_PX / 90.0  # noqa: E731
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'style="%s;font-size:%dpx">' % (width, height, width, height, FONT, f),
             "<title>%s</title>" % html.escape(title),
             '<rect width="100%" height="100%" fill="#fff"/>']
    parts += geometry.depth_axis(x0, x0 + TRACK_PX)
    for dip in (0, 30, 60, 90):
        x = to_x(dip)
        parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s"/>' % (x, x, top, bottom, GRID))
        parts.append('<text x="%.1f" y="%d" text-anchor="%s" fill="%s" font-size="%d">%d°</text>'
                     % (x + (4 if dip < 90 else -4), top + f, "start" if dip < 90 else "end", MUTED, int(0.7 * f), dip))
    parts.append('<text x="%d" y="%d" text-anchor="middle" fill="%s">dip (°), tail toward azimuth</text>'
                 % (x0 + TRACK_PX // 2, top - 6, INK))
    parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s" stroke-width="1.5"/>'
                 % (x0, top, TRACK_PX, bottom - top, MUTED))
    for row in rows:
        y = float(geometry.y_of_depth(row.depth))
        x = to_x(row.dip_deg)
        azimuth = math.radians(row.azimuth_deg)  # up = 0°, clockwise
        tail_x, tail_y = x + TAIL * radius * math.sin(azimuth), y - TAIL * radius * math.cos(azimuth)
        colour = BED if row.kind == "bed" else FRACTURE
        label = "%s: %s at %.3f m, dip %.0f°, azimuth %.0f°, %+.0f HU, %.1f mm, confidence %.2f" % (
            row.core, row.kind, row.depth, row.dip_deg, row.azimuth_deg, row.contrast_hu, row.thickness_mm,
            row.confidence)
        parts.append('<g class="tadpole" data-core="%s" data-depth-m="%.4f" data-dip-deg="%.1f" '
                     'data-azimuth-deg="%.1f" data-kind="%s"><title>%s</title>'
                     '<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"/>'
                     '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="%s" stroke-width="2.5"/></g>'
                     % (html.escape(row.core), row.depth, row.dip_deg, row.azimuth_deg, html.escape(row.kind),
                        html.escape(label), x, y, tail_x, tail_y, colour, x, y, radius,
                        colour if row.kind == "bed" else "#fff", colour))
    legend_y = bottom + f
    parts.append('<text x="%d" y="%d" fill="%s" font-size="%d"><tspan fill="%s">●</tspan> bed  '
                 '<tspan fill="%s">○</tspan> fracture · tail 0° up = +i</text>'
                 % (x0, min(legend_y, height - 4), MUTED, int(0.8 * f), BED, FRACTURE))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_tadpole_track(path: Path, rows: Sequence[PlaneRow], geometry: LogTrack, title: str,
                        durable: bool = True) -> Path:
    write_text_atomically(Path(path), tadpole_track_svg(rows, geometry, title), durable=durable)
    return Path(path)


def sinusoid_overlay(sinusoids: Sequence[Sinusoid], kinds: Sequence[str]) -> Callable[[Sheet, object], None]:
    """An ``overlay`` for :func:`.unwrap_picture.unwrap_picture`: each sinusoid (mm from the
    core's top) drawn over the image and numbered from 1 at its deepest point."""

    def draw(sheet: Sheet, view: object) -> None:
        degrees = np.arange(0.0, 361.0, 2.0)
        for number, (sinusoid, kind) in enumerate(zip(sinusoids, kinds), start=1):
            x, y = view.xy(sinusoid.depth_mm(np.radians(degrees)), degrees)  # type: ignore[attr-defined]
            x[-1] = x[0] + view.width  # type: ignore[attr-defined]  # 360° is the right edge, not 0°
            inside = (y >= view.top) & (y <= view.top + view.height)  # type: ignore[attr-defined]
            colour = ACCENT if kind == "bed" else WHITE
            points: List[tuple] = []
            for px, py, keep in zip(x, y, inside):
                if keep:
                    points.append((px, py))
                elif len(points) > 1:
                    sheet.line(points, colour, 2)
                    points = []
                else:
                    points = []
            if len(points) > 1:
                sheet.line(points, colour, 2)
            deepest = sinusoid.azimuth_deg()
            lx, ly = view.xy(sinusoid.depth_mm(np.radians([deepest]))[0], deepest)  # type: ignore[attr-defined]
            if view.top <= ly <= view.top + view.height:  # type: ignore[attr-defined]
                sheet.text(float(lx), float(ly) + 3, str(number), LABEL_PX, "mt", colour)

    return draw
