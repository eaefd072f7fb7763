"""Every core of a batch's output picked: the per-core and well tables, and what was left out.

Reads the unwraps a conversion wrote (``unwrap/<core>_unwrap.nrrd``, named in the manifest's
records), one core at a time — memory is one core's unwrap whatever the well's length — and
writes ``planes/<core>.csv`` for each core picked and ``well_planes.csv``.  A core that was not
converted, has no unwrap or whose unwrap cannot be read is listed with why; the others are
picked all the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..messages import one_line
from ..record import CoreRecord
from .pick import Plane, pick_planes
from .sinusoid import read_unwrap, well_depth_m
from .tables import PlaneRow, write_core_table, write_well_table


@dataclass
class CorePlanes:
    """One core's picked planes, with what they need to be drawn and placed."""

    core: str
    planes: List[Plane]
    radius_mm: float
    row_mm: float
    rows: int
    first_row_depth_m: Optional[float]
    table: Path
    unwrap: Path

    @property
    def top_m(self) -> Optional[float]:
        """The depth of the core's top (the upper edge of its unwrap's first row), or None."""
        return well_depth_m(self.first_row_depth_m, self.row_mm, 0.0)

    @property
    def length_mm(self) -> float:
        return self.rows * self.row_mm

    def depth_m(self, z_mm: float) -> Optional[float]:
        return well_depth_m(self.first_row_depth_m, self.row_mm, z_mm)


@dataclass
class WellPlanes:
    """What :func:`pick_well` did: each core's planes, the cores left out (``core: why``)."""

    cores: List[CorePlanes] = field(default_factory=list)
    left_out: List[str] = field(default_factory=list)
    table: Optional[Path] = None
    track: Optional[Path] = None  # well_planes.svg, when the cores have depths
    warnings: List[str] = field(default_factory=list)  # pictures not drawn

    @property
    def rows(self) -> List[PlaneRow]:
        return [PlaneRow.of(core.core, plane, core.depth_m(plane.depth_mm)) for core in self.cores
                for plane in core.planes]

    def by_core(self) -> Dict[str, CorePlanes]:
        return {core.core: core for core in self.cores}


def why_not_picked(output_dir: Path, record: CoreRecord) -> Optional[str]:
    """Why ``record``'s core cannot be picked, or None when its unwrap is there."""
    if record.status not in ("converted", "skipped"):
        return "not converted (%s)" % (record.error or record.status)
    if not record.unwrap:
        if record.output and record.output.endswith(".nhdr"):
            return "no unwrap: converted as a detached header (--format nhdr) without one"
        return "no unwrap: converted with --no-unwrap, or its cross-section was not found"
    if not (Path(output_dir) / record.unwrap).is_file():
        return "%s not found" % record.unwrap
    return None


def pick_core(output_dir: Path, record: CoreRecord, durable: bool = True) -> CorePlanes:
    """Pick one core and write its table (raises on an unreadable unwrap)."""
    unwrap = Path(output_dir) / str(record.unwrap)
    image = read_unwrap(unwrap, record.name)
    planes = pick_planes(image)
    in_metres = image.first_row_depth_m is not None
    rows = [PlaneRow.of(record.name, plane, image.depth_m(plane.depth_mm)) for plane in planes]
    table = write_core_table(output_dir, record.name, rows, in_metres, durable)
    return CorePlanes(record.name, planes, image.radius_mm, image.row_mm, image.values.shape[0],
                      image.first_row_depth_m, table, unwrap)


def pick_well(output_dir: Path, records: Sequence[CoreRecord], durable: bool = True) -> WellPlanes:
    """Every core of ``records`` picked (module docstring); ``well_planes.csv`` written."""
    result = WellPlanes()
    for record in records:
        reason = why_not_picked(output_dir, record)
        if reason is None:
            try:
                result.cores.append(pick_core(output_dir, record, durable))
                continue
            except (OSError, ValueError) as exc:
                reason = "unwrap not read: %s" % one_line(exc)
        result.left_out.append("%s: %s" % (record.name, reason))
    result.table = write_well_table(output_dir, result.rows, durable)
    return result
