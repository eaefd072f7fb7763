"""Core phantoms with known answers: cylinders of known CT number by layer, in liners or bare.

For the analyses measured while converting (the CT log, the unwrap): every number a test checks
is known here by construction — the CT number of each layer, the noise, the diameter, the axis
(off the image centre and tilted), which slices hold no core.  Real scans differ in ways each
option imitates:

- ``liner``: ``"plastic"`` (a few hundred HU) or ``"aluminium"`` (a dense barrel, 2500 HU, above
  the rock's CT numbers) or None (a bare core);
- ``touching``: a horizontal scanner leaves the core lying on the liner's low side (+row
  direction), the gap there a fraction of a voxel, wide on the other side;
- ``tilt_deg`` / ``centre_mm``: the core axis off the image centre and not along the scan axis;
- ``rubble``: slices of broken rock (pieces with air between them), ``foam``: foam spacers
  (−850 HU), ``caps``: polyethylene end caps (−100 HU), ``missing``: slices not written (a gap);
- ``layers``: CT numbers along the core axis from grid slice 0, each a length in mm (from
  ``layers_from_mm``); ``bed_dip_deg`` / ``bed_dip_direction_deg`` tilt their boundaries into
  dipping planes (deepest at that azimuth, the unwrap's convention: from +i toward +j), and
  ``laminae_mm`` / ``laminae_hu`` band each layer parallel to them;
- ``fractures`` (open planes: air across their aperture) and ``vugs`` (air spheres) in the rock.
- soft cores (peat, mud, sand): ``fill`` — a fluid (water: 0 HU) filling the liner's bore around
  the core; ``roots`` — thin tubes of ``ROOT_HU`` (−300 HU) along the core; ``pockets`` — the
  share of the core taken by small air bubbles (spheres of ``POCKET_RADIUS_MM``);
- masks and rods: ``mask_hu`` — everything outside the core's disc (its edge pixels keep their
  partial volume) set to one value after the noise (a viewer's export: +3071, −1024 or 0 HU), ``rods`` — calibration
  rods along the scan axis (:class:`Rod`), beside the core or inside it, of a CT number or masked
  to ``mask_hu``.

Voxels at an edge hold their partial volume (the covered fraction of the pixel, to first order),
then Gaussian noise of ``noise_hu``; stored as signed 16 bit with RescaleIntercept −1024.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .cores import _series_uids, _write_single_frames
from .dicom_files import PathLike, _make_format, _make_geometry, _PixelFormat, _Slice, _write_order, _written_indices

AIR_HU = -1000.0
FOAM_HU = -850.0
END_CAP_HU = -100.0  # polyethylene
LINER_HU = {"plastic": 300.0, "aluminium": 2500.0}
INTERCEPT = -1024.0
ROOT_HU = -300.0  # roots and rhizomes in peat
ROOT_DIAMETER_MM = 1.2
POCKET_RADIUS_MM = 1.5


@dataclass(frozen=True)
class Rod:
    """A calibration rod along the scan axis at (x, y) mm from the image centre; ``hu`` None:
    masked to the phantom's ``mask_hu``."""

    x_mm: float
    y_mm: float
    diameter_mm: float = 8.0
    hu: Optional[float] = 1500.0


@dataclass(frozen=True)
class Layer:
    """A run of rock of one CT number, ``length_mm`` long along the core axis."""

    length_mm: float
    hu: float


@dataclass(frozen=True)
class Fracture:
    """An open (air-filled) planar fracture: it crosses the axis ``along_mm`` from grid slice 0,
    dips ``dip_deg`` toward ``dip_direction_deg`` (the beds' convention), ``aperture_mm`` wide."""

    along_mm: float
    dip_deg: float
    dip_direction_deg: float
    aperture_mm: float = 1.0


@dataclass(frozen=True)
class Vug:
    """A round pore of air, its centre ``along_mm`` from grid slice 0 and ``offset_mm`` (x, y)
    off the axis."""

    along_mm: float
    offset_mm: Tuple[float, float]
    radius_mm: float


@dataclass(frozen=True)
class CorePhantom:
    """What to draw; every length in mm, positions in the slice plane from the image centre
    along the columns (x, i) and rows (y, j)."""

    rows: int = 160
    columns: int = 160
    pixel_spacing: Tuple[float, float] = (0.5, 0.5)  # DICOM order: between rows, between columns
    slice_spacing: float = 1.0
    slices: int = 60
    diameter_mm: float = 60.0
    centre_mm: Tuple[float, float] = (0.0, 0.0)  # the axis at the middle slice
    tilt_deg: float = 0.0  # axis against the scan axis
    tilt_azimuth_deg: float = 0.0  # 0: the axis leans towards +x (columns), 90: towards +y (rows)
    layers: Tuple[Layer, ...] = (Layer(1e9, 2000.0),)
    layers_from_mm: float = 0.0  # where the first layer's length starts, along the axis from slice 0
    bed_dip_deg: float = 0.0  # the layer boundaries' dip against the plane square to the axis
    bed_dip_direction_deg: float = 0.0  # …and where they lie deepest, from +x (i) toward +y (j)
    laminae_mm: float = 0.0  # period of the banding parallel to the beds (0: none)
    laminae_hu: float = 0.0  # its amplitude
    fractures: Tuple[Fracture, ...] = ()
    vugs: Tuple[Vug, ...] = ()
    noise_hu: float = 30.0
    liner: Optional[str] = None  # "plastic", "aluminium" or None
    liner_inner_mm: float = 66.0  # inner diameter
    liner_wall_mm: float = 3.0
    touching: bool = False  # core on the liner's low side (+y), else concentric
    touch_gap_mm: float = 0.2
    rubble: Tuple[int, ...] = ()  # grid slices of broken rock
    foam: Tuple[int, ...] = ()
    caps: Tuple[int, ...] = ()
    missing: Tuple[int, ...] = ()
    origin_z_mm: float = 0.0
    seed: int = 0
    fill: Optional[float] = None  # a fluid's HU filling the liner's bore around the core
    roots: int = 0  # thin tubes of ROOT_HU along the core
    pockets: float = 0.0  # share of the core in air bubbles
    mask_hu: Optional[float] = None  # outside the core's disc set to this (after the noise)
    rods: Tuple[Rod, ...] = ()
    scan: Tuple[Tuple[str, Any], ...] = ()  # (keyword, value) of how it was scanned, on every slice


@dataclass
class PhantomSeries:
    """A written phantom and its truth, per grid slice k (ascending along the normal)."""

    folder: Path
    files: List[Path]
    phantom: CorePhantom
    centres_ij: np.ndarray  # (slices, 2): the axis in pixel coordinates (i = column, j = row)
    layer_hu: np.ndarray  # (slices,): CT number of the rock where one layer fills the slice, else NaN
    has_core: np.ndarray  # (slices,) bool: rock in the slice (a missing slice has none)
    rubble_void_fraction: np.ndarray  # (slices,): air share of the core's disc in rubble slices, else 0
    spacing_ijk: Tuple[float, float, float] = field(default=(0.5, 0.5, 1.0))
    core_mean_hu: Optional[np.ndarray] = None  # (slices,): noise-free mean inside the core's disc (roots,
    # pockets, partial volumes of both included; masked rods left out), NaN where no layer fills the slice
    void_fraction: Optional[np.ndarray] = None  # (slices,): share of the core's disc below −500 HU
    masked_fraction: Optional[np.ndarray] = None  # (slices,): share of the core's disc masked (rods)


def write_phantom(folder: PathLike, phantom: CorePhantom = CorePhantom()) -> PhantomSeries:
    """Write ``phantom`` as a CT series (one file per slice) into ``folder``; its truth."""
    row_spacing, column_spacing = phantom.pixel_spacing
    origin = (-(phantom.columns - 1) / 2.0 * column_spacing, -(phantom.rows - 1) / 2.0 * row_spacing,
              phantom.origin_z_mm)
    geometry = _make_geometry(phantom.pixel_spacing, phantom.slice_spacing, origin, (1.0, 0.0, 0.0),
                              (0.0, 1.0, 0.0))
    fmt = _make_format(True, 16, None)
    written = _written_indices(phantom.slices, phantom.missing, ())
    by_index = _SlicesOnDemand(phantom, fmt)  # each slice made as it is written: memory of one slice
    uids = _series_uids(phantom.seed, 1, None, None)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files = _write_single_frames(out, by_index, _write_order(written, (), False), geometry, fmt, uids, 1,
                                 "PHANTOM", phantom.slice_spacing, "1.2.840.10008.1.2.1", False, phantom.seed,
                                 "IM", ".dcm", phantom.scan)
    truth = [_slice_truth(phantom, k) for k in range(phantom.slices)]
    truth = [t if k in written else (t[0], float("nan"), False, 0.0) for k, t in enumerate(truth)]
    inside = np.array([_inside_truth(phantom, k) for k in range(phantom.slices)])
    inside[np.isnan([t[1] for t in truth]), 0] = np.nan
    return PhantomSeries(
        folder=out, files=files, phantom=phantom,
        centres_ij=np.array([t[0] for t in truth]), layer_hu=np.array([t[1] for t in truth]),
        has_core=np.array([t[2] for t in truth]), rubble_void_fraction=np.array([t[3] for t in truth]),
        spacing_ijk=(column_spacing, row_spacing, geometry.slice_spacing),
        core_mean_hu=inside[:, 0], void_fraction=inside[:, 1], masked_fraction=inside[:, 2])


def _inside_truth(phantom: CorePhantom, k: int) -> Tuple[float, float, float]:
    """(noise-free mean, share below −500 HU, masked share) over the pixels of slice ``k`` wholly
    inside the core's disc and 1.5 mm from its edge (where the CT log measures)."""
    clean, _ = _clean_slice(phantom, k)
    x, y = _axes(phantom)
    share, _ = _coverage(phantom, k, phantom.centre_mm, phantom.diameter_mm / 2.0 - 1.5, x, y)
    inside = share >= 1.0
    if not inside.any():
        return float("nan"), 0.0, 0.0
    masked = _masked_rods(phantom, x, y) & inside
    kept = inside & ~masked
    values = clean[kept]
    return (float(values.mean()) if values.size else float("nan"), float(np.mean(values < -500.0)) if values.size else 0.0,
            float(masked.sum() / inside.sum()))


def _masked_rods(phantom: CorePhantom, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pixels masked by rods of ``hu`` None (their centres within the rod)."""
    masked = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    for rod in phantom.rods:
        if rod.hu is None and phantom.mask_hu is not None:
            masked |= (x - rod.x_mm) ** 2 + (y - rod.y_mm) ** 2 <= (rod.diameter_mm / 2.0) ** 2
    return masked


class _SlicesOnDemand(Mapping):
    """Grid slice k → its :class:`_Slice`, computed when asked (the writer asks once per slice)."""

    def __init__(self, phantom: CorePhantom, fmt: _PixelFormat) -> None:
        self.phantom, self.fmt = phantom, fmt

    def __getitem__(self, k: int) -> _Slice:
        hu = phantom_slice_hu(self.phantom, k)
        stored = np.clip(np.rint(hu - INTERCEPT), self.fmt.low, self.fmt.high).astype(self.fmt.dtype)
        return _Slice(k=k, copy=0, pixels=stored, slope=1.0, intercept=INTERCEPT)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.phantom.slices))

    def __len__(self) -> int:
        return self.phantom.slices


def phantom_slice_hu(phantom: CorePhantom, k: int) -> np.ndarray:
    """The CT numbers (HU, float) of grid slice ``k``, noise included."""
    clean, _ = _clean_slice(phantom, k)
    rng = np.random.default_rng([phantom.seed, k, 17])
    values = clean + rng.normal(0.0, phantom.noise_hu, size=clean.shape)
    if phantom.mask_hu is not None:
        x, y = _axes(phantom)
        core, _ = _coverage(phantom, k, phantom.centre_mm, phantom.diameter_mm / 2.0, x, y)
        values[core <= 0.0] = phantom.mask_hu  # the core's edge pixels keep their partial volume
        values[_masked_rods(phantom, x, y)] = phantom.mask_hu
    return values


def _axes(phantom: CorePhantom) -> Tuple[np.ndarray, np.ndarray]:
    """(x, y) mm of every pixel centre from the image centre, shaped for broadcasting."""
    row_spacing, column_spacing = phantom.pixel_spacing
    x = (np.arange(phantom.columns) - (phantom.columns - 1) / 2.0)[None, :] * column_spacing
    y = (np.arange(phantom.rows) - (phantom.rows - 1) / 2.0)[:, None] * row_spacing
    return x, y


def _z(phantom: CorePhantom, k: int) -> float:
    """Distance of slice ``k`` from the middle slice along the scan axis, mm."""
    return (k - (phantom.slices - 1) / 2.0) * phantom.slice_spacing


def _axis_centre(phantom: CorePhantom, k: int, centre: Tuple[float, float]) -> Tuple[float, float]:
    lean = math.tan(math.radians(phantom.tilt_deg)) * _z(phantom, k)
    azimuth = math.radians(phantom.tilt_azimuth_deg)
    return centre[0] + lean * math.cos(azimuth), centre[1] + lean * math.sin(azimuth)


def _liner_centre_mm(phantom: CorePhantom) -> Tuple[float, float]:
    if not phantom.touching:
        return phantom.centre_mm
    drop = phantom.liner_inner_mm / 2.0 - phantom.diameter_mm / 2.0 - phantom.touch_gap_mm
    return phantom.centre_mm[0], phantom.centre_mm[1] - drop  # the liner sits higher (−y)


def _coverage(phantom: CorePhantom, k: int, centre: Tuple[float, float], radius: float,
              x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(share of each pixel inside the tilted cylinder of ``radius``, position along its axis)."""
    cx, cy = _axis_centre(phantom, k, centre)
    tilt, azimuth = math.radians(phantom.tilt_deg), math.radians(phantom.tilt_azimuth_deg)
    dx, dy = x - cx, y - cy
    along = dx * math.cos(azimuth) + dy * math.sin(azimuth)  # in the slice, towards the lean
    across = -dx * math.sin(azimuth) + dy * math.cos(azimuth)
    distance = np.sqrt((along * math.cos(tilt)) ** 2 + across ** 2)  # to the axis, perpendicular to it
    pixel = math.sqrt(phantom.pixel_spacing[0] * phantom.pixel_spacing[1])
    share = np.clip((radius - distance) / pixel + 0.5, 0.0, 1.0)
    axial = _z(phantom, k) * math.cos(tilt) + along * math.sin(tilt)  # along the axis from the middle
    return share, axial


def _layer_ends(phantom: CorePhantom) -> np.ndarray:
    """Where each layer ends, along the axis from grid slice 0 (mm)."""
    return phantom.layers_from_mm + np.cumsum([layer.length_mm for layer in phantom.layers])


def _layer_at(phantom: CorePhantom, along_from_slice0_mm: np.ndarray) -> np.ndarray:
    ends = _layer_ends(phantom)
    index = np.clip(np.searchsorted(ends, along_from_slice0_mm, side="right"), 0, len(phantom.layers) - 1)
    return np.array([layer.hu for layer in phantom.layers])[index]


def _toward(direction_deg: float, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """How far each point lies off the axis toward azimuth ``direction_deg`` (from +x toward +y)."""
    azimuth = math.radians(direction_deg)
    return dx * math.cos(azimuth) + dy * math.sin(azimuth)


def _plane_offset(along: np.ndarray, at_mm: float, dip_deg: float, direction_deg: float, dx: np.ndarray,
                  dy: np.ndarray) -> np.ndarray:
    """Distance along the axis below the plane through the axis at ``at_mm`` dipping ``dip_deg``
    toward ``direction_deg`` (a plane crossing a core of radius r is, on the unwrap,
    at + r·tan δ·cos(θ − ψ): deepest toward ψ)."""
    return along - at_mm - math.tan(math.radians(dip_deg)) * _toward(direction_deg, dx, dy)


def _openings(phantom: CorePhantom, along: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> Optional[np.ndarray]:
    """Share of each pixel that is open (air: a fracture's aperture, a vug), or None without any."""
    if not phantom.fractures and not phantom.vugs:
        return None
    pixel = math.sqrt(phantom.pixel_spacing[0] * phantom.pixel_spacing[1])
    open_ = np.zeros(np.broadcast(along, dx, dy).shape)
    for fracture in phantom.fractures:
        across = _plane_offset(along, fracture.along_mm, fracture.dip_deg, fracture.dip_direction_deg, dx, dy) \
            * math.cos(math.radians(fracture.dip_deg))  # square to the plane
        open_ = np.maximum(open_, np.clip((fracture.aperture_mm / 2.0 - np.abs(across)) / pixel + 0.5, 0.0, 1.0))
    for vug in phantom.vugs:
        distance = np.sqrt((dx - vug.offset_mm[0]) ** 2 + (dy - vug.offset_mm[1]) ** 2 + (along - vug.along_mm) ** 2)
        open_ = np.maximum(open_, np.clip((vug.radius_mm - distance) / pixel + 0.5, 0.0, 1.0))
    return open_


def _clean_slice(phantom: CorePhantom, k: int) -> Tuple[np.ndarray, float]:
    """(noise-free HU of slice ``k``, air share of the core's disc)."""
    x, y = _axes(phantom)
    core, axial = _coverage(phantom, k, phantom.centre_mm, phantom.diameter_mm / 2.0, x, y)
    start = -_z(phantom, 0)  # axial position of slice 0's centre is -start
    along = axial + start
    cx, cy = _axis_centre(phantom, k, phantom.centre_mm)
    dx, dy = x - cx, y - cy
    bedding = along
    if phantom.bed_dip_deg:
        bedding = _plane_offset(along, 0.0, phantom.bed_dip_deg, phantom.bed_dip_direction_deg, dx, dy)
    rock = _layer_at(phantom, bedding)
    if phantom.laminae_mm and phantom.laminae_hu:
        rock = rock + phantom.laminae_hu * np.sin(2.0 * math.pi * bedding / phantom.laminae_mm)
    open_ = _openings(phantom, along, dx, dy)
    if open_ is not None:
        rock = rock + open_ * (AIR_HU - rock)
    void_share = 0.0
    fill = rock
    if k in phantom.rubble:
        pieces = _rubble_pieces(phantom, k, x, y)
        void_share = float(((1 - pieces) * core).sum() / max(core.sum(), 1e-9))
        fill = AIR_HU + pieces * (rock - AIR_HU)
    if phantom.roots or phantom.pockets:
        fill = _roots_and_pockets(phantom, k, x, y, fill)
    if k in phantom.foam or k in phantom.caps:
        fill = np.full_like(rock, FOAM_HU if k in phantom.foam else END_CAP_HU)
    around = AIR_HU if phantom.fill is None or phantom.liner is None else phantom.fill
    values = around + core * (fill - around)
    if phantom.liner is not None:
        liner_centre = _liner_centre_mm(phantom)
        inner_r = phantom.liner_inner_mm / 2.0
        outer, _ = _coverage(phantom, k, liner_centre, inner_r + phantom.liner_wall_mm, x, y)
        inner, _ = _coverage(phantom, k, liner_centre, inner_r, x, y)
        if k in phantom.foam or k in phantom.caps:  # a spacer or cap fills the liner's bore
            values = AIR_HU + inner * ((FOAM_HU if k in phantom.foam else END_CAP_HU) - AIR_HU)
        elif phantom.fill is not None:  # the fluid fills the bore, air outside the liner
            values = AIR_HU + inner * (values - AIR_HU)
        values = values + (outer - inner) * (LINER_HU[phantom.liner] - AIR_HU)
    for rod in phantom.rods:
        if rod.hu is not None:
            share = np.clip((rod.diameter_mm / 2.0 - np.hypot(x - rod.x_mm, y - rod.y_mm)) / phantom.pixel_spacing[0]
                            + 0.5, 0.0, 1.0)
            values = values + share * (rod.hu - values)
    return values, void_share


def _roots_and_pockets(phantom: CorePhantom, k: int, x: np.ndarray, y: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """``fill`` (the core's CT numbers) with roots (tubes along the scan axis, spread over the
    core on a sunflower pattern) and air bubbles (spheres at random places, enough of them for
    the share ``pockets`` of the core) drawn in, each with its partial volume."""
    radius = phantom.diameter_mm / 2.0
    pixel = math.sqrt(phantom.pixel_spacing[0] * phantom.pixel_spacing[1])
    cx, cy = _axis_centre(phantom, k, phantom.centre_mm)
    out = np.array(fill, dtype=np.float64, copy=True)
    golden = math.pi * (3.0 - math.sqrt(5.0))
    for n in range(phantom.roots):
        at = (radius - 3.0) * math.sqrt((n + 0.5) / phantom.roots)
        rx, ry = cx + at * math.cos(n * golden), cy + at * math.sin(n * golden)
        share = np.clip((ROOT_DIAMETER_MM / 2.0 - np.hypot(x - rx, y - ry)) / pixel + 0.5, 0.0, 1.0)
        out += share * (ROOT_HU - out)
    if phantom.pockets > 0:
        rng = np.random.default_rng([phantom.seed, 9191])
        length = phantom.slices * phantom.slice_spacing
        volume = math.pi * (radius - 3.0) ** 2 * length * phantom.pockets * (radius / (radius - 3.0)) ** 2
        count = int(round(volume / (4.0 / 3.0 * math.pi * POCKET_RADIUS_MM ** 3)))
        at = (radius - 3.0) * np.sqrt(rng.uniform(0, 1, count))
        angle = rng.uniform(0, 2 * math.pi, count)
        z = rng.uniform(-POCKET_RADIUS_MM, length + POCKET_RADIUS_MM, count)
        here = _z(phantom, k) - _z(phantom, 0) + phantom.slice_spacing / 2.0
        for n in np.nonzero(np.abs(z - here) < POCKET_RADIUS_MM)[0]:
            r = math.sqrt(POCKET_RADIUS_MM ** 2 - (z[n] - here) ** 2)
            px, py = cx + at[n] * math.cos(angle[n]), cy + at[n] * math.sin(angle[n])
            share = np.clip((r - np.hypot(x - px, y - py)) / pixel + 0.5, 0.0, 1.0)
            out += share * (AIR_HU - out)
    return out


def _rubble_pieces(phantom: CorePhantom, k: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 where a piece of broken rock lies, 0 in the air between pieces (smooth-edged blobs)."""
    rng = np.random.default_rng([phantom.seed, 4242])
    phase = rng.uniform(0, 2 * math.pi, size=3)
    z = k * phantom.slice_spacing
    field_ = (np.sin(x / 6.0 + phase[0]) * np.sin(y / 7.0 + phase[1]) * math.cos(z / 9.0 + phase[2]))
    return np.clip((field_ + 0.15) * 4.0 + 0.5, 0.0, 1.0)


def _slice_truth(phantom: CorePhantom, k: int) -> Tuple[Tuple[float, float], float, bool, float]:
    """(axis centre (i, j) px, layer HU or NaN, holds rock, rubble air share) of slice ``k``."""
    cx, cy = _axis_centre(phantom, k, phantom.centre_mm)
    row_spacing, column_spacing = phantom.pixel_spacing
    centre_ij = (cx / column_spacing + (phantom.columns - 1) / 2.0, cy / row_spacing + (phantom.rows - 1) / 2.0)
    has_core = k not in phantom.foam and k not in phantom.caps
    layer = float("nan")
    if has_core and k not in phantom.rubble:
        radius = phantom.diameter_mm / 2.0
        tilt = math.radians(phantom.tilt_deg)
        start = -_z(phantom, 0)
        centre_axial = _z(phantom, k) * math.cos(tilt) + start
        # how far the section spans along the axis, and across the beds
        reach = radius * (math.tan(tilt) + math.tan(math.radians(phantom.bed_dip_deg))) + phantom.slice_spacing
        ends = _layer_ends(phantom)
        low, high = _layer_at(phantom, np.array([centre_axial - reach, centre_axial + reach]))
        crossing = np.any((ends > centre_axial - reach) & (ends < centre_axial + reach))
        if low == high and not crossing and not _opens_near(phantom, centre_axial, reach):
            layer = float(low)
    rubble_void = _clean_slice(phantom, k)[1] if k in phantom.rubble else 0.0
    return centre_ij, layer, has_core, rubble_void


def _opens_near(phantom: CorePhantom, along_mm: float, reach_mm: float) -> bool:
    """A fracture or vug may show in the section at ``along_mm`` (± ``reach_mm``) of the axis."""
    radius = phantom.diameter_mm / 2.0
    fractures = any(abs(f.along_mm - along_mm) <= reach_mm + radius * math.tan(math.radians(f.dip_deg)) + f.aperture_mm
                    for f in phantom.fractures)
    return fractures or any(abs(v.along_mm - along_mm) <= reach_mm + v.radius_mm for v in phantom.vugs)


def well_of_phantoms(root: PathLike, phantoms: Sequence[CorePhantom]) -> List[PhantomSeries]:
    """Write each phantom as ``root/core_00n`` (each its own series: distinct seeds)."""
    return [write_phantom(Path(root) / ("core_%03d" % n), replace(phantom, seed=phantom.seed * 100 + n))
            for n, phantom in enumerate(phantoms, 1)]
