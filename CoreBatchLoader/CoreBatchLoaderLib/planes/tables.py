"""The planes' tables: ``planes/<core>.csv`` for each core, ``well_planes.csv`` for the well.

Columns (:data:`COLUMNS`): depth, ``dip_deg``, ``azimuth_deg``, ``kind``, ``contrast_hu``,
``thickness_mm``, ``coverage``, ``confidence`` (:mod:`.pick` says what each is; :mod:`.sinusoid`
the conventions).  The depth column says its unit in its name: ``depth_m`` (the well's depth,
metres) when the core has a depth, else ``depth_mm`` (mm from the core's top, the upper edge of
its unwrap's first row).  A core without planes has a table with its header alone.  The well's
table has ``core`` first and every core's planes by depth (``depth_m``), or, when some core has no
depth, by core and ``depth_mm``.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from ..files import write_text_atomically
from .pick import Plane

PLANES_DIR = "planes"
WELL_TABLE = "well_planes.csv"
COLUMNS = ("dip_deg", "azimuth_deg", "kind", "contrast_hu", "thickness_mm", "coverage", "confidence")
DEPTH_M, DEPTH_MM = "depth_m", "depth_mm"


@dataclass(frozen=True)
class PlaneRow:
    """One row of a planes table: a plane of ``core`` at ``depth`` (m, or mm from the core's top)."""

    core: str
    depth: float
    in_metres: bool
    dip_deg: float
    azimuth_deg: float
    kind: str
    contrast_hu: float
    thickness_mm: float
    coverage: float
    confidence: float

    @classmethod
    def of(cls, core: str, plane: Plane, depth_m: Optional[float]) -> "PlaneRow":
        return cls(core, depth_m if depth_m is not None else plane.depth_mm, depth_m is not None, plane.dip_deg,
                   plane.azimuth_deg, plane.kind, plane.contrast_hu, plane.thickness_mm, plane.coverage,
                   plane.confidence)

    def cells(self) -> List[str]:
        depth = "%.4f" % self.depth if self.in_metres else "%.1f" % self.depth
        return [depth, "%.1f" % self.dip_deg, "%.1f" % self.azimuth_deg, self.kind, "%.0f" % self.contrast_hu,
                "%.1f" % self.thickness_mm, "%.2f" % self.coverage, "%.2f" % self.confidence]


def core_table_file(core: str) -> str:
    """The core's table relative to the output folder."""
    return "%s/%s.csv" % (PLANES_DIR, core)


def table_text(rows: Sequence[PlaneRow], in_metres: bool, with_core: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((["core"] if with_core else []) + [DEPTH_M if in_metres else DEPTH_MM] + list(COLUMNS))
    for row in rows:
        writer.writerow(([row.core] if with_core else []) + row.cells())
    return out.getvalue()


def write_core_table(output_dir: Path, core: str, rows: Sequence[PlaneRow], in_metres: bool,
                     durable: bool = True) -> Path:
    path = Path(output_dir) / core_table_file(core)
    path.parent.mkdir(exist_ok=True)
    write_text_atomically(path, table_text(sorted(rows, key=lambda r: r.depth), in_metres), durable)
    return path


def write_well_table(output_dir: Path, rows: Sequence[PlaneRow], durable: bool = True) -> Path:
    """``well_planes.csv``: by depth in metres when every row has one, else by core then mm."""
    in_metres = all(row.in_metres for row in rows)
    order = sorted(rows, key=lambda r: r.depth) if in_metres else list(rows)  # rows come core by core
    path = Path(output_dir) / WELL_TABLE
    write_text_atomically(path, table_text(order, in_metres, with_core=True), durable)
    return path


def read_table(path: Path) -> List[PlaneRow]:
    """The rows of a planes table (a core's, or the well's with its ``core`` column)."""
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        in_metres = DEPTH_M in (reader.fieldnames or ())
        core = Path(path).stem
        return [PlaneRow(row.get("core", core), float(row[DEPTH_M if in_metres else DEPTH_MM]), in_metres,
                         float(row["dip_deg"]), float(row["azimuth_deg"]), row["kind"], float(row["contrast_hu"]),
                         float(row["thickness_mm"]), float(row["coverage"]), float(row["confidence"]))
                for row in reader]
