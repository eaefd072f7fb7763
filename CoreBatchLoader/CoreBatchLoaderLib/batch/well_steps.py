"""The batch's two steps for the well: check the depth options before converting, place the
cores and write the scene after.

Kept in the batch layer because it joins the well's files (:mod:`..well.layout`, no Slicer)
and the MRML scene (:mod:`..mrml.well`, slicer-core or Slicer): those two never import each
other's way back, and neither imports the batch.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from ..dicom.discover import CoreFolder
from ..files import DISK_FULL, sync_folder
from ..messages import one_line
from ..record import CoreRecord
from ..well.ct_log import WellLogFiles, write_well_log
from ..well.depths import (
    CoreDepth,
    DepthError,
    back_to_back,
    length_warnings,
    read_depth_table,
    unit_factor,
    unplaced_reason,
)
from ..well.layout import SCENE_DIR, WellLayout, build_layout, read_layout
from ..well.options import SceneOptions
from ..well.proxies import default_budget


class SceneSetupError(Exception):
    """The depth or scene options cannot be used (found before anything is converted)."""


@dataclass
class WellResult:
    """What the batch reports about the well: the layout, the scene file, or why not."""

    layout: Optional[WellLayout] = None
    scene: Optional[Path] = None
    strip: Optional[Path] = None
    error: Optional[str] = None
    unwrap_strip: Optional[Path] = None  # well_unwrap.png
    log: Optional[WellLogFiles] = None  # the well's CT log: LAS, table, track (or why not)
    unplaced: List[str] = field(default_factory=list)  # "core: why it has no depth, what to write"


# ---------------------------------------------------------------------------------------------
# Before converting


def check_options(options: SceneOptions, folders: Sequence[CoreFolder]) -> Dict[str, CoreDepth]:
    """The cores' depths, or :class:`SceneSetupError` — called before any core is converted, so a
    typo in the depth table costs nothing.  Depth rows name core folders, or cores of a folder
    holding several series; whether every core found its row is known after converting
    (:func:`unplaced_cores`)."""
    if options.depths_file is not None and options.start_depth_m is not None:
        raise SceneSetupError("give either --depths or --start-depth/--core-length, not both")
    if (options.start_depth_m is None) != (options.core_length_m is None):
        raise SceneSetupError("--start-depth and --core-length go together")
    if options.build_scene and not options.has_depths:
        raise SceneSetupError("--scene places cores at their depths: give --depths FILE or "
                              "--start-depth M --core-length M")
    if options.build_scene:
        from ..mrml.well import SceneUnavailable, require_slicer
        try:
            require_slicer()
        except SceneUnavailable as exc:
            raise SceneSetupError(str(exc)) from None
    if options.memory_budget is not None and options.memory_budget <= 0:
        raise SceneSetupError("--scene-memory must be positive")
    names = [f.name for f in folders]
    try:
        if options.depths_file is not None:
            depths = read_depth_table(Path(options.depths_file), names,
                                      {f.name: os.path.basename(f.path) for f in folders}, options.depth_unit)
        elif options.start_depth_m is not None:
            factor = unit_factor(options.depth_unit)
            depths = back_to_back(names, float(options.start_depth_m) * factor,
                                  float(options.core_length_m or 0.0) * factor, options.depth_unit or "m")
        else:
            return {}
    except DepthError as exc:
        raise SceneSetupError(str(exc)) from None
    if options.flip_all:
        depths = {name: replace(depth, flip=True) for name, depth in depths.items()}
    return depths


# ---------------------------------------------------------------------------------------------
# After converting


def finish_well(output_dir: Path, records: List[CoreRecord], depths: Mapping[str, CoreDepth],
                options: SceneOptions, well_name: str, durable: bool = True,
                ct_log: bool = True, folder_names: Optional[Mapping[str, str]] = None) -> Optional[WellResult]:
    """Length warnings into the records; a warning on every converted core without a depth
    (``unplaced``); the well's CT log (unless ``ct_log`` is off); with ``build_scene`` the scene
    files and ``scene.mrml`` (with the log's table and plot).  ``folder_names``: each source
    folder's name as a core (:attr:`..dicom.discover.CoreFolder.name`), which depth rows use.

    Never raises: a scene that cannot be built is an ``error`` in the result (the cores are
    converted and stay so); a log that cannot be written is a warning in ``log``.
    """
    if not depths:
        return None
    add_length_warnings(records, depths)
    unplaced = unplaced_cores(records, depths, folder_names or {})
    name = options.well(well_name)
    if not options.build_scene:
        return WellResult(log=write_well_log(output_dir, records, depths, name, durable, unplaced=unplaced,
                                             identity=options.identity(name))
                          if ct_log else None, unplaced=unplaced)
    log = None
    try:
        budget = options.memory_budget or default_budget()
        key = scene_key(output_dir, records, depths, budget, name, ct_log)
        reused = _unchanged_scene(output_dir, key)
        layout = reused[1] if reused is not None else build_layout(output_dir, records, depths, budget, name,
                                                                   durable, key)
        log = write_well_log(output_dir, records, depths, name, durable, layout, unplaced,
                             options.identity(name)) if ct_log else None
        if reused is not None:  # rerun of a finished well: no core is read again
            scene = reused[0]
        else:
            from ..mrml.well import write_scene
            scene = write_scene(output_dir, layout, durable, log.table if log else None)
            if durable:  # the scene folder's new files and renames, once (the output folder's: the report)
                sync_folder(Path(output_dir) / SCENE_DIR)
        strip = Path(output_dir) / layout.strip_file if layout.strip_file else None
        unwrap_strip = Path(output_dir) / layout.unwrap_strip_file if layout.unwrap_strip_file else None
        return WellResult(layout, scene, strip, unwrap_strip=unwrap_strip, log=log, unplaced=unplaced)
    except Exception as exc:  # the scene is extra: it must not turn converted cores into a crash
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            raise  # not the scene's fault: the batch stops saying so (run_batch); the rerun writes it
        return WellResult(error="scene not written: %s" % one_line(exc), log=log, unplaced=unplaced)


def well_steps_text(options: SceneOptions, ct_log: bool, cores: int) -> str:
    """What :func:`finish_well` is about to do, as the progress line that says so."""
    parts = ["the CT log" if ct_log else "", "the well pictures and the scene" if options.build_scene else ""]
    doing = " and ".join(p for p in parts if p) or "the depth checks"
    return "well: %s for %d core%s…" % (doing, cores, "" if cores == 1 else "s")


def unplaced_cores(records: Sequence[CoreRecord], depths: Mapping[str, CoreDepth],
                   folder_names: Mapping[str, str]) -> List[str]:
    """"core: why it has no depth and what to write in the table" for every converted core that
    found no depth row — a folder row for a folder that turned out to hold several series, say —
    also as a warning on its record (once), so the summary, the report and the LAS name it."""
    cores_of: Dict[str, List[str]] = {}
    for record in records:
        cores_of.setdefault(record.source, []).append(record.name)
    unplaced = []
    for record in records:
        if record.status not in ("converted", "skipped") or record.name in depths:
            continue
        folder = folder_names.get(record.source, record.name)
        warning = unplaced_reason(record.name, folder, cores_of[record.source], depths)
        if warning not in record.warnings:
            record.warnings.append(warning)
        unplaced.append("%s: %s" % (record.name, warning))
    return unplaced


def add_length_warnings(records: Sequence[CoreRecord], depths: Mapping[str, CoreDepth]) -> None:
    """Warn where a scan's length differs from its depth interval (once per record)."""
    scanned = {r.name: float(r.dimensions[2]) * float(r.spacing[2]) for r in records
               if r.dimensions and r.spacing and r.status in ("converted", "skipped")}
    for record in records:
        warning = length_warnings({record.name: depths[record.name]}, scanned).get(record.name) \
            if record.name in depths else None
        if warning and warning not in record.warnings:
            record.warnings.append(warning)


def scene_key(output_dir: Path, records: Sequence[CoreRecord], depths: Mapping[str, CoreDepth], budget: int,
              well_name: str, ct_log: bool = True) -> str:
    """A hash of everything the scene is made of: depths, budget, name, whether it shows the CT
    log, and each converted file's name, size and modification time — equal keys mean the same
    scene."""
    digest = hashlib.sha1(("%s\0%d%s\n" % (well_name, budget, " ctlog" if ct_log else "")).encode("utf-8"))
    for name in sorted(depths):
        depth = depths[name]
        digest.update(("%s %r %r %s\n" % (name, depth.top_m, depth.bottom_m, depth.flip)).encode("utf-8"))
    for record in records:
        if record.output and record.status in ("converted", "skipped"):
            for output in (record.output, record.unwrap):
                try:
                    stat = (Path(output_dir) / output).stat() if output else None
                except OSError:
                    continue
                if stat is not None:
                    digest.update(("%s %s %d %d\n" % (record.name, output, stat.st_size,
                                                       stat.st_mtime_ns)).encode("utf-8"))
    return digest.hexdigest()


def _unchanged_scene(output_dir: Path, key: str) -> Optional[tuple]:
    """(scene.mrml, layout) of an earlier run built from the same ``key`` whose files all exist."""
    from ..mrml.well import SCENE_NAME
    scene = Path(output_dir) / SCENE_NAME
    try:
        layout = read_layout(output_dir)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if layout.source_key != key or not scene.exists():
        return None
    files = [c.file for c in layout.cores] + [c.full_file for c in layout.cores] + [
        layout.overview_file, layout.strip_file]
    files += [f for f in [c.unwrap_file for c in layout.cores] + [layout.unwrap_strip_file] if f]
    if any(not f or not (Path(output_dir) / f).exists() for f in files):
        return None
    return scene, layout


