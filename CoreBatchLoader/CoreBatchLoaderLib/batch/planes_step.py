"""The planes step: every core's planes picked from its unwrap (:mod:`..planes.well`), the
tables, each core's unwrap picture with its sinusoids drawn over it and, when the cores have
depths, the well's tadpole track ``well_planes.svg`` on the CT log track's depth scale — after a
batch (``convert --planes``) or on its output later (``corebatchloader planes``), the same code
both ways."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..messages import one_line
from ..planes.well import WellPlanes, pick_well
from ..record import CoreRecord
from ..report.log_svg import LogTrack
from ..report.tadpoles import sinusoid_overlay, write_tadpole_track
from ..report.unwrap_picture import unwrap_picture
from ..well.layout import read_layout
from ..well.placement import depth_to_s
from ..well.strip import STRIP_HEIGHT

TRACK_NAME = "well_planes.svg"


def run_planes(output_dir: Path, records: Sequence[CoreRecord], durable: bool = True) -> WellPlanes:
    """Pick every core of ``records`` that has an unwrap; write the tables and pictures (the
    caller holds the output lock).  A picture that cannot be drawn is a warning."""
    output_dir = Path(output_dir)
    result = pick_well(output_dir, records, durable)
    for core in result.cores:
        try:
            unwrap_picture(core.unwrap, core.unwrap.with_suffix(".png"),
                           overlay=sinusoid_overlay([p.sinusoid for p in core.planes], [p.kind for p in core.planes]))
        except Exception as exc:  # a picture is never worth failing the step
            result.warnings.append("%s: unwrap picture with its planes not drawn: %s" % (core.core, one_line(exc)))
    placed = [core for core in result.cores if core.top_m is not None]
    if placed and len(placed) == len(result.cores):
        try:
            result.track = write_tadpole_track(output_dir / TRACK_NAME, result.rows, track_geometry(output_dir, result),
                                               "Planes: dip and azimuth (tadpoles)", durable)
        except Exception as exc:
            result.warnings.append("%s not written: %s" % (TRACK_NAME, one_line(exc)))
    return result


def track_geometry(output_dir: Path, result: WellPlanes) -> LogTrack:
    """The CT log track's vertical geometry: the scene's strip rows when there is a scene
    (:func:`..well.ct_log.write_well_log` does the same), else the cores' interval."""
    try:
        layout = read_layout(output_dir)
        if layout.strip_interval_s and layout.strip_rows:
            (top_s, bottom_s), (top_px, height_px, picture_px) = layout.strip_interval_s, layout.strip_rows
            return LogTrack(top_s, bottom_s, "planes", height_px, top_px, picture_px)
    except (OSError, ValueError, TypeError, KeyError):
        pass
    top_s = max(depth_to_s(float(core.top_m or 0.0)) for core in result.cores)
    bottom_s = min(depth_to_s(float(core.top_m or 0.0) + core.length_mm / 1000.0) for core in result.cores)
    return LogTrack(top_s, bottom_s, "planes", STRIP_HEIGHT, 39, None)


def planes_summary(result: WellPlanes) -> str:
    """One line: how many planes in how many cores, and where the well's table is."""
    count = sum(len(core.planes) for core in result.cores)
    return "planes: %d in %d core%s — %s%s" % (count, len(result.cores), "" if len(result.cores) == 1 else "s",
                                              result.table, ", %s" % result.track if result.track else "")
