"""A sample well that looks like rock, with its truth: what ``corebatchloader sample`` writes.

One well model — beds of distinct lithologies (distinct CT numbers) down the well, dipping, banded
by laminae — is cut into cores lying back to back from ``top_m``.  Each core is a
:class:`.phantoms.CorePhantom` (the phantoms draw every feature: partial volume at edges, noise,
the liner, the tilt, rubble), and the cores differ as real ones do: each was cut from other beds,
lies in its plastic liner tilted a little its own way, is turned its own way (cores are not
oriented, so the beds dip toward another azimuth in each), and some hold an open fracture, a vug or
a rubble interval.  Written one slice at a time (:func:`.phantoms.write_phantom`): memory does not
grow with the well.

Beside the core folders, ``truth.json`` says what was drawn — the beds' depths and CT numbers, each
core's depth, tilt, bedding dip, fracture, vug and rubble, and the scan's tags written on its slices
(the same for every core) — and ``depths.csv`` the cores' depths as ``convert --depths`` reads them.  Depths are metres along the core's axis, a plane's depth is where
it crosses the axis, and a dip direction is the azimuth in the slice plane, from +i (the columns)
toward +j (the rows), of the side where the plane lies deepest (the unwrap's convention).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from .dicom_files import PathLike
from .phantoms import LINER_HU, CorePhantom, Fracture, Layer, Vug, write_phantom

# CT numbers of a medical scanner's rock (HU): any two differ by ≥ 250, so a CT log tells them apart
LITHOLOGIES = (("shale", 1550.0), ("siltstone", 1800.0), ("sandstone", 2050.0), ("limestone", 2350.0),
               ("dolomite", 2600.0))
# How every core of the sample well was scanned: a medical scanner's settings for rock (high kV, a
# sharp kernel), written on every slice as a real scan carries them; the report's Scan column reads
# them back.  Fixed, not drawn: the files are the same bytes on every run and Python stack.
SCAN_TAGS = (("KVP", "140"), ("XRayTubeCurrent", 300), ("Exposure", 150), ("ConvolutionKernel", "BONEPLUS"),
             ("Manufacturer", "CoreBatchLoader"), ("ManufacturerModelName", "Synthetic core CT"),
             ("AcquisitionDate", "20260115"))
TRUTH_NAME = "truth.json"
DEPTHS_NAME = "depths.csv"


@dataclass(frozen=True)
class SampleWell:
    """The sample well's size (the command's options, with its defaults)."""

    cores: int = 4
    slices: int = 120
    size: int = 96  # rows and columns of a slice
    slice_spacing_mm: float = 1.0
    pixel_spacing_mm: float = 0.5
    top_m: float = 2450.0
    seed: int = 0

    @property
    def core_length_mm(self) -> float:
        return self.slices * self.slice_spacing_mm


@dataclass(frozen=True)
class Bed:
    """One bed of the well model: its top and bottom where they cross a core's axis (m)."""

    top_m: float
    bottom_m: float
    lithology: str
    hu: float


def well_beds(well: SampleWell) -> List[Bed]:
    """The beds from above the first core's top to below the last core's bottom: 20–70 % of a core
    long each, no bed of the same rock as the one above it."""
    rng = np.random.default_rng([well.seed, 11])
    length_m = well.cores * well.core_length_mm / 1000.0
    core_m = well.core_length_mm / 1000.0
    beds: List[Bed] = []
    depth, previous = well.top_m - rng.uniform(0.2, 0.7) * core_m, -1
    while depth < well.top_m + length_m + core_m:
        choice = int(rng.integers(len(LITHOLOGIES) - 1))
        choice += choice >= previous >= 0  # any rock but the one above
        thickness = rng.uniform(0.2, 0.7) * core_m
        beds.append(Bed(round(depth, 6), round(depth + thickness, 6), *LITHOLOGIES[choice]))
        depth, previous = depth + thickness, choice
    return beds


def core_phantoms(well: SampleWell, beds: List[Bed]) -> List[Tuple[CorePhantom, Dict[str, Any]]]:
    """Each core's phantom and its truth (JSON-ready), cut from ``beds``."""
    rng = np.random.default_rng([well.seed, 23])
    field_mm = well.size * well.pixel_spacing_mm
    diameter = 0.6 * field_mm  # in its liner (a gap, a wall of a twentieth), tilted: inside the field
    liner_inner, liner_wall = diameter + 0.08 * field_mm, 0.05 * field_mm
    dip = float(rng.uniform(8.0, 18.0))  # the beds' dip, the same down the well
    spacing = well.slice_spacing_mm
    result = []
    for n in range(well.cores):
        top_m = well.top_m + n * well.core_length_mm / 1000.0
        along = lambda depth_m: (depth_m - top_m) * 1000.0 - spacing / 2.0  # noqa: E731 - mm from slice 0's centre
        length = well.core_length_mm
        turned = float(rng.uniform(0.0, 360.0))  # the core's own azimuth: the beds dip toward it
        tilt, tilt_azimuth = float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.0, 360.0))
        laminae_mm, laminae_hu = float(rng.uniform(3.0, 8.0)), float(rng.uniform(40.0, 90.0))
        fracture_along, fracture_dip = float(rng.uniform(0.25, 0.75) * length), float(rng.uniform(55.0, 75.0))
        fracture_direction = float(rng.uniform(0.0, 360.0))
        vug_along, vug_angle = float(rng.uniform(0.2, 0.8) * length), float(rng.uniform(0.0, 2 * math.pi))
        rubble_along = float(rng.uniform(0.1, 0.8) * length)
        reach = diameter / 2.0 * math.tan(math.radians(dip)) + length
        mine = [b for b in beds if along(b.bottom_m) > -reach and along(b.top_m) < length + reach]
        aperture = max(1.0, 2 * well.pixel_spacing_mm)  # open: at least two pixels of air
        fractures = (Fracture(fracture_along, fracture_dip, fracture_direction, aperture),) if n % 3 == 1 else ()
        vug_radius = max(2.0, 0.12 * diameter / 2.0)
        vug_offset = (0.45 * diameter / 2.0 * math.cos(vug_angle), 0.45 * diameter / 2.0 * math.sin(vug_angle))
        vugs = (Vug(vug_along, vug_offset, vug_radius),) if n % 3 == 2 else ()
        rubble: Tuple[int, ...] = ()
        if n % 4 == 3 or (well.cores < 4 and n == well.cores - 1):
            first = int(rubble_along / spacing)
            rubble = tuple(range(first, min(well.slices, first + max(2, int(0.06 * well.slices)))))
        phantom = CorePhantom(
            rows=well.size, columns=well.size, pixel_spacing=(well.pixel_spacing_mm, well.pixel_spacing_mm),
            slice_spacing=spacing, slices=well.slices, diameter_mm=diameter,
            centre_mm=tuple(float(v) for v in rng.uniform(-0.01, 0.01, size=2) * field_mm),
            tilt_deg=tilt, tilt_azimuth_deg=tilt_azimuth, noise_hu=35.0, liner="plastic",
            liner_inner_mm=liner_inner, liner_wall_mm=liner_wall, touching=True,
            layers=tuple(Layer((b.bottom_m - b.top_m) * 1000.0, b.hu) for b in mine),
            layers_from_mm=along(mine[0].top_m), bed_dip_deg=dip, bed_dip_direction_deg=turned,
            laminae_mm=laminae_mm, laminae_hu=laminae_hu, fractures=fractures, vugs=vugs, rubble=rubble,
            seed=well.seed * 1000 + n + 1, scan=SCAN_TAGS)
        depth_of = lambda along_mm: round(top_m + (along_mm + spacing / 2.0) / 1000.0, 6)  # noqa: E731
        truth = {
            "name": "core_%03d" % (n + 1), "top_m": round(top_m, 6), "bottom_m": round(top_m + length / 1000.0, 6),
            "flip": False, "diameter_mm": round(diameter, 3),
            "liner": {"material": "plastic", "hu": LINER_HU["plastic"], "inner_diameter_mm": round(liner_inner, 3),
                      "wall_mm": round(liner_wall, 3)},
            "tilt_deg": round(tilt, 3), "tilt_azimuth_deg": round(tilt_azimuth, 3),
            "beds": {"dip_deg": round(dip, 3), "dip_direction_deg": round(turned, 3),
                     "laminae_period_mm": round(laminae_mm, 3), "laminae_hu": round(laminae_hu, 1)},
            "fractures": [{"depth_m": depth_of(f.along_mm), "dip_deg": round(f.dip_deg, 3),
                           "dip_direction_deg": round(f.dip_direction_deg, 3), "aperture_mm": f.aperture_mm}
                          for f in fractures],
            "vugs": [{"depth_m": depth_of(v.along_mm), "offset_mm": [round(c, 3) for c in v.offset_mm],
                      "radius_mm": round(v.radius_mm, 3)} for v in vugs],
            "scan": dict(SCAN_TAGS),
            "rubble": {"top_m": depth_of(rubble[0] * spacing - spacing / 2.0),
                       "bottom_m": depth_of(rubble[-1] * spacing + spacing / 2.0)} if rubble else None,
        }
        result.append((phantom, truth))
    return result


def write_sample_well(root: PathLike, *, cores: int = SampleWell.cores, slices: int = SampleWell.slices,
                      size: int = SampleWell.size, top_m: float = SampleWell.top_m,
                      slice_spacing_mm: float = SampleWell.slice_spacing_mm,
                      pixel_spacing_mm: float = SampleWell.pixel_spacing_mm, seed: int = SampleWell.seed
                      ) -> Dict[str, Any]:
    """The sample well to try things on (``corebatchloader sample``, Slicer's Sample Data) under
    ``root``: ``cores`` core folders (``core_001``…) of ``slices`` slices of ``size``×``size``,
    back to back from ``top_m``, written one slice at a time, then ``truth.json`` (what was drawn,
    see the module docstring) and ``depths.csv`` (the depth table the panel and ``--depths`` read;
    not a DICOM file, so the batch passes it by; written last: a well cut short lacks it).
    Returns the truth."""
    well = SampleWell(cores=cores, slices=slices, size=size, slice_spacing_mm=slice_spacing_mm,
                      pixel_spacing_mm=pixel_spacing_mm, top_m=top_m, seed=seed)
    out = Path(root)
    beds = well_beds(well)
    phantoms = core_phantoms(well, beds)
    for phantom, core in phantoms:
        write_phantom(out / core["name"], phantom)
    bottom = well.top_m + well.cores * well.core_length_mm / 1000.0
    truth = {
        "conventions": "metres along each core's axis (a plane's depth: where it crosses the axis); a dip "
                       "direction is the azimuth in the slice plane from +i (columns) toward +j (rows) where the "
                       "plane lies deepest; CT numbers in HU",
        "well": {"top_m": well.top_m, "bottom_m": round(bottom, 6), "cores": well.cores, "slices": well.slices,
                 "size": well.size, "slice_spacing_mm": well.slice_spacing_mm,
                 "pixel_spacing_mm": well.pixel_spacing_mm, "seed": well.seed},
        "beds": [{"top_m": b.top_m, "bottom_m": b.bottom_m, "lithology": b.lithology, "hu": b.hu}
                 for b in beds if b.bottom_m > well.top_m and b.top_m < bottom],
        "cores": [core for _, core in phantoms],
    }
    (out / TRUTH_NAME).write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    (out / DEPTHS_NAME).write_text("core,top,bottom\n" + "".join(
        "%s,%r,%r\n" % (c["name"], c["top_m"], c["bottom_m"]) for c in truth["cores"]), encoding="utf-8")
    return truth
