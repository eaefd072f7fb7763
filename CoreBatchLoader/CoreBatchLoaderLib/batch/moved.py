"""A core found converted but placed elsewhere: what of its files states its depth, redone.

Applying a depth match (``convert --depths depth_match/depths_log.csv``) moves cores without
flipping them.  The resume fingerprint holds each core's flip, not its interval (:mod:`.run`), so
such a core is reused — no DICOM read, no volume written — and only what its conversion wrote
about its depth is redone here: its unwrap's first-row depth (the rows are the same) and its
thumbnail's depth axis.  Everything else that depends on depth comes after the batch (the CT
logs' depth column, the LAS, the well's pictures, the scene, the report).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..analysis.slices import CoreInterval
from ..analysis.unwrap import restamp_depth
from ..record import CoreRecord


def redo_moved(output_dir: Path, records: Sequence[CoreRecord], depths: Mapping[str, CoreInterval],
               durable: bool = True, thumbnails: bool = True) -> None:
    """Restamp and redraw what states the depth of each of ``records`` that now lies elsewhere
    (``depths``; a core without one: no depth).  OSError or ValueError when an unwrap cannot be
    restamped (the caller converts the folder again)."""
    moved = [_restamp(Path(output_dir), r, depths.get(r.name), durable) for r in records]
    if not thumbnails:
        return
    from ..report.page import draw_thumbnail  # never raises: a picture is not worth a core
    for record, again in zip(records, moved):
        depth = depths.get(record.name)
        if again:  # its depth axis is in metres from the core's top
            draw_thumbnail(Path(output_dir), record, top_last=depth is not None and depth.flip,
                           top_m=depth.top_m if depth is not None else None, redraw=True)


def _restamp(output_dir: Path, record: CoreRecord, depth: Optional[CoreInterval], durable: bool) -> bool:
    """Whether ``record`` now lies elsewhere than when its files were made (its record's
    ``top_m`` says where that was), its unwrap's header restamped if so."""
    top = depth.top_m if depth is not None else None
    moved = record.top_m != top
    if record.unwrap and record.spacing:
        moved = restamp_depth(output_dir / record.unwrap, top, record.spacing[2], durable) or moved
    return moved
