"""The planes step: every core's planes picked from its unwrap and the well's tables written —
after a batch (``convert --planes``) or on its output later (``corebatchloader planes``), the
same code both ways (:mod:`..planes.well`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..planes.well import WellPlanes, pick_well
from ..record import CoreRecord


def run_planes(output_dir: Path, records: Sequence[CoreRecord], durable: bool = True) -> WellPlanes:
    """Pick every core of ``records`` that has an unwrap; write the tables (the caller holds the
    output lock)."""
    return pick_well(Path(output_dir), records, durable)


def planes_summary(result: WellPlanes) -> str:
    """One line: how many planes in how many cores, and where the well's table is."""
    count = sum(len(core.planes) for core in result.cores)
    return "planes: %d in %d core%s — %s" % (count, len(result.cores), "" if len(result.cores) == 1 else "s",
                                            result.table)
