"""What happened to one core: :class:`CoreRecord`, the keys of ``manifest.json``.

One record per core, the same whichever route converted it (fast engine or Slicer's DICOMLib),
made by :mod:`.convert`, kept by :mod:`.batch`, shown by the CLI, the Slicer panel and the report.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

STATUSES = ("converted", "skipped", "failed")


@dataclass
class CoreRecord:
    """What happened to one core; the keys of ``manifest.json``."""

    name: str
    source: str  # absolute path of the core's folder
    series_uid: Optional[str] = None
    status: str = "failed"
    output: Optional[str] = None  # relative to the output folder
    error: Optional[str] = None  # one line
    warnings: List[str] = field(default_factory=list)
    dimensions: Optional[List[int]] = None  # NRRD sizes: columns, rows, slices
    spacing: Optional[List[float]] = None  # mm along i, j, k
    origin_lps: Optional[List[float]] = None
    directions_lps: Optional[List[List[float]]] = None  # step vectors of i, j, k
    type: Optional[str] = None  # numpy name of the voxel type
    seconds: float = 0.0
    slices: int = 0  # input slices (frames) used
    bytes: int = 0  # size of the voxel data written
    fingerprint: Optional[str] = None
    route: str = "fast"
    ct_log: Optional[str] = None  # logs/<core>.csv, relative to the output folder (analysis.ct_log)
    axis_tilt_deg: Optional[float] = None  # the core axis against the scan axis
    axis_point_lps: Optional[List[float]] = None  # a point of the fitted axis, mm
    axis_direction_lps: Optional[List[float]] = None  # its unit direction, along +k
    unwrap: Optional[str] = None  # the unwrapped surface (2-D NRRD), relative to the output folder
    unwrap_radius_mm: Optional[float] = None
    # Where it lies in the well, with depths (the depth table's row, in metres; None without):
    top_m: Optional[float] = None
    bottom_m: Optional[float] = None
    flip: Optional[bool] = None  # scanned bottom to top (the table's flip column or --flip-all)
    # How it was scanned, from its slices' headers (dicom.headers.scan_settings; None: not in the
    # files). Pixel size and slice spacing are ``spacing``.
    kvp: Optional[float] = None  # (0018,0060) peak tube voltage, kV
    tube_current_ma: Optional[float] = None  # (0018,1151), the slices' median
    exposure_mas: Optional[float] = None  # (0018,1152), the slices' median
    manufacturer: Optional[str] = None  # (0008,0070)
    model: Optional[str] = None  # (0008,1090) ManufacturerModelName
    kernel: Optional[str] = None  # (0018,1210) ConvolutionKernel (reconstruction kernel)
    acquisition_date: Optional[str] = None  # (0008,0022), else the series' or study's date; YYYY-MM-DD
    # what surrounds the core (air, liner, fill) and the CT range taken as core (analysis.surroundings)
    surroundings: Optional[Dict[str, Any]] = None
    # Not in the manifest: the report picture's planes kept while converting
    # (analysis.long_section.KeptSection), for the worker that draws the picture next; then None.
    kept_section: Optional[Any] = field(default=None, repr=False, compare=False, metadata={"manifest": False})

    def to_json(self) -> Dict[str, Any]:
        return {name: copy.deepcopy(getattr(self, name)) for name in manifest_keys()}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "CoreRecord":
        known = set(manifest_keys())
        return cls(**{k: v for k, v in data.items() if k in known})


def manifest_keys() -> List[str]:
    """The record's fields that ``manifest.json`` holds, in order (not ``kept_section``)."""
    return [f.name for f in fields(CoreRecord) if f.metadata.get("manifest", True)]
