"""The planes step: every core's planes picked from its unwrap (:mod:`..planes.well`), the
tables, each core's unwrap picture with its sinusoids drawn over it and, when the cores have
depths, the well's tadpole track ``well_planes.svg`` on the CT log track's depth scale — after a
batch (``convert --planes``) or on its output later (``corebatchloader planes``), the same code
both ways."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

from ..files import written_by_batch
from ..messages import one_line
from ..mrml.well import SCENE_NAME
from ..planes.well import WellPlanes, pick_well
from ..record import CoreRecord
from ..report.log_svg import LogTrack
from ..report.tadpoles import sinusoid_overlay, write_tadpole_track
from ..report.unwrap_picture import unwrap_picture
from ..well.ct_log import TABLE_NAME as LOG_TABLE
from ..well.layout import SCENE_DIR, read_layout
from ..well.plane_places import PlacedPlane, place_planes
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
    _scene_with_planes(output_dir, records, result, durable)
    placed = [core for core in result.cores if core.top_m is not None]
    if placed and len(placed) == len(result.cores):
        try:
            result.track = write_tadpole_track(output_dir / TRACK_NAME, result.rows, track_geometry(output_dir, result),
                                               "Planes: dip and azimuth (tadpoles)", durable)
        except Exception as exc:
            result.warnings.append("%s not written: %s" % (TRACK_NAME, one_line(exc)))
    return result


def _scene_with_planes(output_dir: Path, records: Sequence[CoreRecord], result: WellPlanes, durable: bool) -> None:
    """``scene.mrml`` written again with every core's planes as markups, when the output has a
    scene (``--scene``); a core without a fitted axis in the manifest is a warning."""
    if not (output_dir / SCENE_NAME).is_file():
        return
    try:
        layout = read_layout(output_dir)
        placed_cores = {core.name: core for core in layout.cores}
        by_name = {record.name: record for record in records}
        planes: List[PlacedPlane] = []
        for core in result.cores:
            where = placed_cores.get(core.core)
            if where is None or not core.planes:
                continue
            placed = place_planes(by_name[core.core], core.planes, where.top_m, where.flip, core.row_mm,
                                  1.1 * core.radius_mm)
            if placed is None:
                result.warnings.append("%s: planes not in the scene: the manifest has no fitted axis for the core"
                                       % core.core)
            else:
                planes += placed
        _remove_plane_files(output_dir / SCENE_DIR)
        from ..mrml.well import write_scene
        table = output_dir / LOG_TABLE
        write_scene(output_dir, layout, durable, table if table.is_file() else None, planes)
    except Exception as exc:  # the scene is extra
        result.warnings.append("scene not written with the planes: %s" % one_line(exc))


def _remove_plane_files(folder: Path) -> None:
    """The planes' markup files an earlier pick left in the scene folder (the batch's own only)."""
    for path in folder.glob("*_plane_*.mrk.json"):
        if written_by_batch(path):
            try:
                path.unlink()
            except OSError:
                pass


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
