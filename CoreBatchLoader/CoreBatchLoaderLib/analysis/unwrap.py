"""The unwrapped core: CT numbers on a cylinder about the core's axis, laid flat.

Geologists describe a core from its outer surface, and compare it with borehole image logs,
where a planar bed or fracture crossing the core is a sinusoid: its amplitude is r·tan(dip),
its deepest point the dip direction.  This analysis samples that surface while the core is
converted, in one pass, from the slices already in memory: each slice leaves a ring of
samples about its own core centre (:mod:`.unwrap_rings`), and when the core's axis is fitted
the rings are turned to it and read along its tilted circles (:mod:`.unwrap_finish`) into a
2-D NRRD, a block of rows at a time.  Memory is bounded whatever the core's length: a
buffer of rings, the sampling stencils (one on a straight core, up to 64 × ~70 KB on a tilted
one) and the finish's block (1.3–3 MB; ``bench/memory.py``); the cost is in
``bench/analysis_cost.md``.

**Convention.**  Row ``n`` is output slice ``k = n`` (``k = last − n`` for a flipped core: the
top of the core first).  Column ``c`` of ``W`` covers the angle θ = 360° × (c + 0.5) / W about
the core axis, measured in the slice plane from the slice's +i (column) direction toward its
+j (row) direction (:data:`ANGLE_CONVENTION`).  ``W`` ≈ 2πr / pixel spacing: a column is one
pixel of arc.  The row's samples lie on the circle of radius ``r`` about the fitted axis in
the plane *perpendicular to the axis* through the point where the axis crosses slice ``k``:
a tilted core's unwrap follows its axis, so a bed square to the core is a straight line, not
a sinusoid of amplitude r·tan(tilt).
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from ..dicom.geometry import CoreGeometry
from ..files import AtomicFile
from ..nrrd.writer import KEY_PREFIX, provenance_key_values, write_image_2d
from .core_section import FULL_SHARE, CoreSection
from .ct_log import fit_axis
from .slices import AnalysisContext
from .unwrap_finish import MISSING_HU, STRAY_PIXELS, SliceAxis, stray_slices, to_output_type, unwrap_blocks
from .unwrap_rings import Rings, UnwrapRadius

ANGLE_CONVENTION = ("column c covers theta = 360 deg x (c + 0.5) / W about the core axis, in the slice plane "
                    "from +i (column) toward +j (row); row 0 = top of the core")

UNWRAP_DIR = "unwrap"
UNWRAP_SUFFIX = "_unwrap.nrrd"
RADIUS_KEY = KEY_PREFIX + "unwrap_radius_mm"
ANGLE_KEY = KEY_PREFIX + "unwrap_angle"
FIRST_ROW_KEY = KEY_PREFIX + "unwrap_first_row_depth_m"  # the centre of row 0, when depths are known


def unwrap_file(core_name: str) -> str:
    """The unwrap's path relative to the output folder."""
    return "%s/%s%s" % (UNWRAP_DIR, core_name, UNWRAP_SUFFIX)


def first_row_depth(top_m: float, slice_spacing_mm: float) -> str:
    """The header's text for the depth of row 0's centre: half a slice below the core's top,
    to the nanometre (no 0.30050000000003)."""
    return repr(round(float(top_m) + float(slice_spacing_mm) / 2000.0, 9))


def restamp_depth(path: Path, top_m: Optional[float], slice_spacing_mm: float, durable: bool = True) -> bool:
    """Give the unwrap ``path`` the first-row depth of a core now placed at ``top_m`` (None: no
    depth), its rows untouched — a core moved without being flipped has the same unwrap, only
    the depth its header states changes (applying a depth match must not convert it again).
    The header is rewritten and the data copied as stored, atomically; False when it already
    says so.  The key stays where the writer puts it (last), so the file is the one a fresh
    conversion at that depth writes."""
    wanted = None if top_m is None else first_row_depth(top_m, slice_spacing_mm)
    with open(path, "rb") as source:
        head = source.read(65536)
        end = head.find(b"\n\n")
        if end < 0:
            raise ValueError("%s: no end of the NRRD header in its first 64 KiB" % path)
        lines = head[:end].decode("utf-8").split("\n")
        prefix = FIRST_ROW_KEY + ":="
        current = next((line[len(prefix):] for line in lines if line.startswith(prefix)), None)
        if current == wanted:
            return False
        lines = [line for line in lines if not line.startswith(prefix)]
        if wanted is not None:
            lines.append(prefix + wanted)
        source.seek(end + 2)
        with AtomicFile(Path(path), durable=durable) as atomic:
            atomic.file.write(("\n".join(lines) + "\n\n").encode("utf-8"))
            shutil.copyfileobj(source, atomic.file, 1 << 20)
            atomic.commit()
    return True


class UnwrapAnalysis:
    """The unwrap at the conversion's per-slice hook (:mod:`.slices`): rings while the slices
    go by, the file when the core is written (see the module docstring)."""

    name = "unwrap"

    def __init__(self, radius: UnwrapRadius, pixel_spacing_ij_mm: Tuple[float, float],
                 folder: Optional[Path] = None) -> None:
        self.radius = radius
        self.folder = folder  # where the rings wait for the finish (Rings): the output folder
        self.spacing_ij = (float(pixel_spacing_ij_mm[0]), float(pixel_spacing_ij_mm[1]))
        self.rings: Optional[Rings] = None
        self.dtype: Optional[np.dtype] = None
        self.centres: List[Tuple[int, float, float]] = []  # k, i, j where a section was found
        self._previous: Optional[CoreSection] = None
        self._sums = np.zeros(7)  # n, Σk, Σk², Σi, Σki, Σj, Σkj of the centres found: the line so far
        self._line: Optional[Tuple[float, float, float, float]] = None  # …fitted (_fitted_line)
        self.core_radius_mm: Optional[float] = None  # measured on full sections before the slices

    def set_core_radius(self, radius_mm: Optional[float]) -> None:
        """The core's radius on its full sections, measured before the slices
        (:meth:`.slices.SliceAnalyses.decide`; None: unknown): the unwrap's radius is decided
        before the first ring — the scan's first sections are often an end's partial ones."""
        self.core_radius_mm = radius_mm

    def add_slice(self, k: int, values: Optional[np.ndarray], section: Optional[CoreSection]) -> None:
        if values is None:
            return
        if self.rings is None:
            self.rings = Rings(values.shape, self.spacing_ij, self.radius, self.folder, self.core_radius_mm)
            self.dtype = values.dtype
        if section is None:
            self._previous = None
            return
        if section is not self._previous:  # found in this slice
            centre: Tuple[float, float] = (float(section.centre_ij[0]), float(section.centre_ij[1]))
            if self.core_radius_mm is None or section.radius_mm >= FULL_SHARE * self.core_radius_mm:
                self.centres.append((int(k), centre[0], centre[1]))  # an end's partial section lies off the axis
                self._sums += (1.0, k, k * k, centre[0], k * centre[0], centre[1], k * centre[1])
                self._line = self._fitted_line()
            self._previous = section
        else:
            centre = self._carried_centre(k, section)
        self.rings.add(k, values, centre, section.radius_mm)

    def _fitted_line(self) -> Optional[Tuple[float, float, float, float]]:
        """The least-squares line through the centres found so far: (i at k = 0, di/dk, j at
        k = 0, dj/dk), or None before two slices apart."""
        n, sk, skk, si, ski, sj, skj = (float(v) for v in self._sums)
        spread = n * skk - sk * sk
        if n < 2 or spread <= 0:
            return None
        slope_i, slope_j = (n * ski - sk * si) / spread, (n * skj - sk * sj) / spread
        return (si - slope_i * sk) / n, slope_i, (sj - slope_j * sk) / n, slope_j

    def _carried_centre(self, k: int, section: CoreSection) -> Tuple[float, float]:
        """Where the core's centre is in slice ``k`` when the section was carried over from an
        earlier slice (:mod:`.slices`): on the line fitted so far through the centres found (a
        tilted core's centre moves along the carry, 0.5 mm over 10 mm at 3°: a ring about the
        stale centre would sample a different depth into the core on either side)."""
        measured = section.centre_ij
        line = self._line
        if line is None:
            return measured[0], measured[1]
        predicted = (line[0] + line[1] * k, line[2] + line[3] * k)
        if math.hypot(predicted[0] - measured[0], predicted[1] - measured[1]) > STRAY_PIXELS:
            return measured[0], measured[1]  # the centres found so far disagree (rubble): do not run off with them
        return predicted

    def finish(self, context: AnalysisContext) -> None:
        try:
            self._write(context)
        finally:
            if self.rings is not None:
                self.rings.close()

    def _write(self, context: AnalysisContext) -> None:
        record, geometry = context.record, context.geometry
        rings = self.rings
        axis = self._axis(record, geometry)
        if rings is None or not len(rings) or axis is None:
            record.warnings.append("unwrap not written: the core's cross-section was found in fewer than "
                                   "three slices")
            return
        spacing = geometry.spacing
        radius_mm = rings.radius_mm
        slices = int(geometry.sizes[2])
        depth = context.depth
        flip = bool(depth is not None and depth.flip)
        strays = stray_slices(rings, axis, slices, spacing[2])
        if strays:  # slices without core are expected (caps, foam, gaps): the CT log shows them
            record.warnings.append("unwrap: the core's centre strays more than %g pixels from the fitted axis "
                                   "in %d slice%s (first k = %d: rubble?); their rows are %g"
                                   % (STRAY_PIXELS, len(strays), "" if len(strays) == 1 else "s", strays[0],
                                      MISSING_HU))
        width = rings.width
        key_values = provenance_key_values(record.source, record.series_uid)
        key_values.update({KEY_PREFIX + "core": record.name, RADIUS_KEY: repr(round(radius_mm, 6)),
                           KEY_PREFIX + "unwrap_radius": self.radius.text(), ANGLE_KEY: ANGLE_CONVENTION,
                           KEY_PREFIX + "unwrap_axis_tilt_deg": repr(round(axis.tilt_deg(), 4))})
        if depth is not None:
            key_values[FIRST_ROW_KEY] = first_row_depth(depth.top_m, spacing[2])
        relative = unwrap_file(record.name)
        target = Path(context.output_dir) / relative
        target.parent.mkdir(exist_ok=True)
        dtype = (self.dtype or np.dtype("float32")).name
        blocks = (to_output_type(block, dtype) for block in unwrap_blocks(rings, axis, slices, spacing[2], flip))
        write_image_2d(target, blocks, (width, slices), np.dtype(dtype),
                       (2.0 * math.pi * radius_mm / width, spacing[2]), key_values, durable=context.durable)
        record.unwrap = relative
        record.unwrap_radius_mm = round(radius_mm, 6)

    def _axis(self, record: Any, geometry: CoreGeometry) -> Optional[SliceAxis]:
        """The CT log's fitted axis (the manifest's), or the same fit through the centres this
        analysis saw when the CT log is off (``--no-ct-log``); None without three centres."""
        point, direction = record.axis_point_lps, record.axis_direction_lps
        if point is None or direction is None:
            if len(self.centres) < 3:
                return None
            k, i, j = (np.array(v, dtype=np.float64) for v in zip(*self.centres))
            fitted = fit_axis(np.column_stack([i, j]), k, geometry.ijk_to_lps)
            if fitted is None:
                return None
            point, direction = fitted[0], fitted[1]
        return SliceAxis.from_lps(point, direction, geometry.origin_lps, geometry.directions_lps)
