"""The output folder as the batch keeps it: the folders it writes into, and what it removes —
temporary files a killed run left behind, and the files an earlier run wrote that this run no
longer makes.

A finished run's outputs reflect that run: a rerun without depths must not leave the last run's
``well_ct_log.las``, ``scene.mrml`` or ``well_strip.png`` (old depths) beside its manifest, nor a
core converted again with ``--no-unwrap`` its old ``unwrap/<core>_unwrap.nrrd``
(:func:`remove_leftovers`).  Only files the batch's ledger says it wrote
(:func:`..files.written_by_batch`) are removed; anything else under those names is someone else's
and stays.  The caller holds the output lock.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence, Set

from ..analysis.ct_log import log_file_name
from ..analysis.unwrap import unwrap_file
from ..files import PARTIAL_SUFFIX, written_by_batch
from ..messages import first_few
from ..planes.tables import WELL_TABLE, core_table_file
from ..record import CoreRecord

if TYPE_CHECKING:
    from .well_steps import WellResult


RESUME = "the cores written so far are complete: make room and run again to resume"


def disk_full_stop(what: str, exc: OSError) -> str:
    """Why the batch stopped when the output disk filled while it wrote ``what`` — the same line
    at every step (a core's volume: :class:`..convert.OutputFull`), and the rerun writes the rest."""
    return "output disk full while writing %s (%s); %s" % (what, exc.strerror or exc, RESUME)


def outputs_changed(paths: Sequence[Path]) -> Optional[str]:
    """Which of a folder's recorded outputs ``paths`` (all present) are no longer the files the
    batch wrote — truncated, overwritten, edited: their size or modification time differs from
    the ledger's (:func:`..files.written_by_batch`) — as the reason a rerun converts it again,
    or None."""
    changed = [path for path in paths if not written_by_batch(path)]
    if not changed:
        return None
    try:
        now = "%s now %d bytes" % (changed[0].name, changed[0].stat().st_size)
    except OSError as exc:
        now = "%s: %s" % (changed[0].name, exc.strerror or exc)
    return "%s changed since the last run wrote %s (%s)" % (
        first_few([p.name for p in changed]), "it" if len(changed) == 1 else "them", now)


def own_folders(output_dir: Path) -> List[Path]:
    """The output folder and its subfolders, where the batch writes (``thumbnails/``, ``logs/``…;
    only files it names as its own are ever touched there)."""
    folders = [output_dir]
    try:
        folders += sorted(entry for entry in output_dir.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    except OSError:
        pass
    return folders


OUTPUT_SUBFOLDERS = ("thumbnails", "logs", "unwrap", "scene", "planes")  # the report's, CT log's, unwrap's,
# scene's, planes' tables


def folders_that_are_files(output_dir: Path) -> List[str]:
    """A warning for each folder the batch writes into that is a file in the output folder:
    what goes there is not written (each such picture or log says so where it is missing)."""
    return ["%s in %s is a file, not a folder: what the batch writes there is left out (move the file away)"
            % (name, output_dir) for name in OUTPUT_SUBFOLDERS
            if (output_dir / name).exists() and not (output_dir / name).is_dir()]


def remove_stale_partials(output_dir: Path) -> int:
    """Delete temporary files a killed run left behind (never under a final name), in the
    output folder and the subfolders the batch writes (the caller holds the lock)."""
    removed = 0
    for folder in own_folders(output_dir):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") and PARTIAL_SUFFIX in entry.name:
                try:
                    entry.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


def remove_leftovers(output_dir: Path, records: Sequence[CoreRecord], well: Optional["WellResult"],
                     planes: bool = False) -> List[str]:
    """Remove the batch's own files that this finished run did not make (module docstring): the
    well's files it did not write (all of them without depths), the scene folder's files when it
    built no scene, the unwrap and CT log of each core it converted without them, and, when it
    picked no planes, the planes table of each core it converted (and the well's).  Not after
    a cancelled or stopped run, which did not get to write them.  Returns the removed files,
    relative to ``output_dir``."""
    output_dir = Path(output_dir)
    candidates = _well_leftovers(output_dir, well) if well is not None or _may_hold_well_files(output_dir) else []
    for record in records:
        if record.status != "converted":  # a skipped core keeps its files; a failed one, this run did not make
            continue
        if not record.unwrap:
            unwrap = output_dir / unwrap_file(record.name)
            candidates += [unwrap, unwrap.with_suffix(".png")]
        if not record.ct_log:
            log = output_dir / log_file_name(record.name)
            candidates += [log, log.with_suffix(".svg")]
        if not planes:  # picked from the unwrap this run replaced
            candidates.append(output_dir / core_table_file(record.name))
    if not planes and any(record.status == "converted" for record in records):
        candidates.append(output_dir / WELL_TABLE)
    return [path.relative_to(output_dir).as_posix() for path in candidates if _remove_if_ours(path)]


def _well_leftovers(output_dir: Path, well: Optional["WellResult"]) -> List[Path]:
    """The well's files and the scene folder's that this run did not make."""
    from ..mrml.well import SCENE_NAME  # the well's modules only here (~30 ms of imports)
    from ..well.ct_log import LAS_NAME, TABLE_NAME, TRACK_NAME, table_schema_path
    from ..well.layout import SCENE_DIR, STRIP_NAME, UNWRAP_STRIP_NAME

    well_files = (LAS_NAME, TABLE_NAME, table_schema_path(Path(TABLE_NAME)).name, TRACK_NAME, SCENE_NAME,
                  STRIP_NAME, UNWRAP_STRIP_NAME)
    made = _well_files_made(output_dir, well)
    candidates = [output_dir / name for name in well_files if output_dir / name not in made]
    if well is None or well.layout is None:
        candidates += sorted(_files_in(output_dir / SCENE_DIR))
    return candidates


def _may_hold_well_files(output_dir: Path) -> bool:
    """Whether the output folder holds a name the well's files start with (``well_…``,
    ``scene…``): a run without depths then looks for leftovers of the well; most never held
    any, and skip importing the well's modules (a start-up cost every run would pay)."""
    try:
        return any(entry.name.startswith(("well_", "scene")) for entry in os.scandir(output_dir))
    except OSError:
        return False


def _well_files_made(output_dir: Path, well: Optional["WellResult"]) -> Set[Path]:
    """The well's files this run wrote (or reused unchanged), as paths under ``output_dir``."""
    from ..well.ct_log import table_schema_path

    if well is None:
        return set()
    made = [well.scene, well.strip, well.unwrap_strip]
    if well.log is not None:
        made += [well.log.las, well.log.track, well.log.table,
                 table_schema_path(well.log.table) if well.log.table else None]
    return {output_dir / path for path in made if path is not None}


def _files_in(folder: Path) -> List[Path]:
    try:
        return [entry for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith(".")]
    except OSError:
        return []


def _remove_if_ours(path: Path) -> bool:
    if not written_by_batch(path):
        return False
    try:
        path.unlink()
        return True
    except OSError:
        return False
