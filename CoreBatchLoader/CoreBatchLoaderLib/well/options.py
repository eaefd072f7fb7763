"""The options of depth placement and the whole-well scene, as the batch carries them.

Kept apart from :mod:`.layout` (which does the work) so that the batch, and every worker
process that imports it, gets the options without importing the scene code.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..messages import printable_line


@dataclass(frozen=True)
class SceneOptions:
    """Depth placement and the whole-well scene (``--depths`` … ``--well-name``)."""

    depths_file: Optional[Path] = None  # GeoSlicer's two columns, or a table core,top,bottom[,flip] (.xlsx too)
    start_depth_m: Optional[float] = None  # with core_length_m: cores back to back (in depth_unit)
    core_length_m: Optional[float] = None
    depth_unit: Optional[str] = None  # --depth-unit m|ft: of the depths given; None: the table's header, else m
    flip_all: bool = False  # every core's scan runs bottom to top
    build_scene: bool = False  # write scene/, well_strip.png and scene.mrml
    memory_budget: Optional[int] = None  # bytes of voxels in the scene; None = a quarter of RAM
    well_name: Optional[str] = None  # None = the input folder's name
    company: Optional[str] = None  # --company, --field, --uwi: the LAS header's COMP, FLD, UWI
    field: Optional[str] = None
    uwi: Optional[str] = None

    def well(self, input_name: str) -> str:
        """The well's name as every output writes it (LAS ``~Well``, SVG, HTML, MRML, NRRD
        headers): ``well_name`` or the input folder's name, as one printable line — a line break
        in either would start a new line (a ``~A`` section in the LAS file) wherever it goes."""
        return printable_line(self.well_name or input_name) or "well"

    @property
    def has_depths(self) -> bool:
        return self.depths_file is not None or self.start_depth_m is not None

    def identity(self, default_name: str) -> "WellIdentity":
        """The well's names for the LAS header (the well's: ``well_name`` or ``default_name``), each
        one printable line as :meth:`well` makes the name."""
        return WellIdentity(self.well(default_name), printable_line(self.company or ""),
                            printable_line(self.field or ""), printable_line(self.uwi or ""))


@dataclass(frozen=True)
class WellIdentity:
    """What names the well in the LAS ``~Well`` section: WELL, COMP, FLD, UWI ("": not given)."""

    name: str
    company: str = ""
    field: str = ""
    uwi: str = ""
