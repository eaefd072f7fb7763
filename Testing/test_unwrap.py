"""The unwrapped core (issue 13): a planar bed crossing the core is a sinusoid whose amplitude
and deepest point give back the phantom's dip and dip direction.

The phantom (:mod:`CoreBatchLoaderLib.synthetic.dipping_beds`) is a core off the image centre,
in a plastic liner with a gap of about a voxel on one side, tilted a few degrees, optionally
flipped, crossed by a dark bed of known dip δ and dip direction ψ.  The dip is read as a
geologist reads it from the unwrap: per column the bed's depth, a least-squares sinusoid
depth(θ) = d₀ + a·cos θ + b·sin θ, dip = atan(√(a² + b²) / r) with r from the file's header,
dip direction = the θ of the deepest point.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest

from CoreBatchLoaderLib.analysis.core_section import find_core_section
from CoreBatchLoaderLib.analysis.unwrap import RADIUS_KEY, UnwrapAnalysis
from CoreBatchLoaderLib.analysis.unwrap_finish import SliceAxis, sample_unwrap, unwrap_blocks
from CoreBatchLoaderLib.analysis.unwrap_rings import Rings, UnwrapRadius, UnwrapRadiusError
from CoreBatchLoaderLib.nrrd.reader import NrrdHeader, iter_slices, read_header, read_slice
from CoreBatchLoaderLib.synthetic.dipping_beds import BED_HU, LINER_HU, ROCK_HU, write_dipping_bed_core

DIP_TOLERANCE_DEG = 2.0
DIRECTION_TOLERANCE_DEG = 6.0


def read_dip(unwrap: np.ndarray, row_mm: float, radius_mm: float) -> Tuple[float, float]:
    """(dip, dip direction) in degrees from an unwrap (rows top first) crossed by one dark bed."""
    rows, width = unwrap.shape
    theta = 2.0 * math.pi * (np.arange(width) + 0.5) / width  # the convention: column centres
    values = np.nan_to_num(unwrap.astype(np.float64), nan=-1000.0)
    middle = (ROCK_HU + BED_HU) / 2.0
    darkness = np.where(values > (BED_HU + LINER_HU) / 2.0, np.clip(middle - values, 0.0, None), 0.0)
    depth_mm = (darkness * np.arange(rows)[:, None]).sum(axis=0) / darkness.sum(axis=0) * row_mm
    design = np.column_stack([np.ones(width), np.cos(theta), np.sin(theta)])
    (_, a, b), *_ = np.linalg.lstsq(design, depth_mm, rcond=None)
    dip = math.degrees(math.atan(math.hypot(a, b) / radius_mm))
    return dip, math.degrees(math.atan2(b, a)) % 360.0  # depth grows downward: the maximum is the trough


def angle_difference(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def phantom_unwrap(folder: Path, axis_of_truth: bool = True, **options: object) -> Tuple[np.ndarray, float, object]:
    """Convert the phantom and unwrap it from the converted slices about the phantom's own axis."""
    from CoreBatchLoaderLib.convert import ConvertOptions, convert_core
    from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder

    _, truth = write_dipping_bed_core(folder / "in" / "core", **options)  # type: ignore[arg-type]
    (folder / "out").mkdir()
    core = scan_folder(find_core_folders(folder / "in")[0]).cores[0]
    record = convert_core(core, folder / "out", ConvertOptions(durable=False))
    header = read_header(folder / "out" / record.output)
    di, dj, dk = header.spacing
    axis = SliceAxis(truth.axis_point, truth.axis_direction) if axis_of_truth else SliceAxis(
        truth.axis_point, (0.0, 0.0, 1.0))
    rings = Rings((header.sizes[1], header.sizes[0]), (di, dj))
    for k, values in enumerate(iter_slices(header)):
        centre = axis.at_z(k * dk)
        rings.add(k, values, (centre[0] / di, centre[1] / dj), truth.core_radius_mm)
    assert rings.radius_mm == pytest.approx(0.9 * truth.core_radius_mm)
    return sample_unwrap(rings, axis, header.sizes[2], dk, flip=truth.flip), rings.radius_mm, truth


@pytest.mark.parametrize("flip", [False, True])
def test_sinusoid_gives_back_the_dip_of_a_bed_in_a_tilted_core(tmp_path: Path, flip: bool) -> None:
    unwrap, radius, truth = phantom_unwrap(tmp_path, flip=flip, dip_deg=35.0, dip_direction_deg=250.0,
                                           tilt_deg=4.0)
    dip, direction = read_dip(unwrap, 0.5, radius)
    assert abs(dip - truth.dip_deg) <= DIP_TOLERANCE_DEG
    assert angle_difference(direction, truth.dip_direction_deg) <= DIRECTION_TOLERANCE_DEG


def test_an_unwrap_in_slice_planes_would_miss_the_dip_by_the_tilt(tmp_path: Path) -> None:
    """Why the rows follow the axis: circles in the slice planes of a core tilted 6° put a
    sinusoid of amplitude r·tan(6°) on every bed."""
    unwrap, radius, truth = phantom_unwrap(tmp_path, axis_of_truth=False, dip_deg=10.0, tilt_deg=6.0,
                                           tilt_azimuth_deg=200.0, dip_direction_deg=20.0)
    dip, _ = read_dip(unwrap, 0.5, radius)
    assert abs(dip - truth.dip_deg) > DIP_TOLERANCE_DEG


def test_the_unwrap_samples_rock_not_liner_or_air(tmp_path: Path) -> None:
    unwrap, _, _ = phantom_unwrap(tmp_path, tilt_deg=4.0)
    inner = unwrap[10:-10]  # the first and last rows' circles leave the scanned slices
    assert np.isfinite(inner).all()
    assert inner.min() > (BED_HU + LINER_HU) / 2.0  # no liner (350 HU), no air (-1000 HU)


def test_each_slice_leaves_one_ring_of_the_unwraps_width_in_a_file(tmp_path: Path) -> None:
    """Memory: one unwrap row per slice, W samples, kept in a file: what stays in memory is a
    buffer of rings, the stencil of the centre (4 offsets and 4 weights a sample, 48 bytes, and
    its two halves, 32) and 24 bytes a slice (8 more for a ring holding a NaN), whatever the
    core's length; the rings read back as sampled (float32; NaN where a ring leaves the image)."""
    rings = Rings((512, 512), (0.26, 0.26), folder=tmp_path)
    slice_values = np.zeros((512, 512), np.int16)
    for k in range(1000):
        slice_values[:] = k
        rings.add(k, slice_values, (256.0, 256.0), 64.0)
    rings.add(1000, slice_values, (20.0, 256.0), 64.0)  # the ring leaves the image
    assert rings.width == round(2 * math.pi * 0.9 * 64.0 / 0.26)
    assert rings.nbytes() == 64 * rings.width * 4 + (48 + 32) * rings.width + 24 * 1001 + 8
    assert rings.nbytes() < 0.1 * 1001 * rings.width * 4
    back = rings.read(0, 1001)
    assert back.dtype == np.float32 and back.shape == (1001, rings.width)
    np.testing.assert_allclose(back[:1000], np.repeat(np.arange(1000.0)[:, None], rings.width, axis=1), rtol=1e-6)
    assert np.isnan(back[1000]).any() and np.allclose(back[1000][np.isfinite(back[1000])], 999.0)
    np.testing.assert_array_equal(rings.slices(), np.arange(1001))
    with pytest.raises(ValueError):
        rings.add(5, slice_values, (256.0, 256.0), 64.0)  # slice after slice only
    rings.close()
    assert not list(tmp_path.iterdir())  # the file had no name and is gone


def phantom_rings(folder: Path, values_type: str = "", **options: object) -> Tuple[Rings, SliceAxis, int, float, object]:
    """The tilted phantom's rings about its own axis, from the converted slices (as float32 with
    ``values_type="float32"``: rings kept unrounded)."""
    from CoreBatchLoaderLib.convert import ConvertOptions, convert_core
    from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder

    _, truth = write_dipping_bed_core(folder / "in" / "core", **options)  # type: ignore[arg-type]
    (folder / "out").mkdir()
    core = scan_folder(find_core_folders(folder / "in")[0]).cores[0]
    record = convert_core(core, folder / "out", ConvertOptions(durable=False, unwrap_radius=None, ct_log=False))
    header = read_header(folder / "out" / record.output)
    di, dj, dk = header.spacing
    axis = SliceAxis(truth.axis_point, truth.axis_direction)
    rings = Rings((header.sizes[1], header.sizes[0]), (di, dj))
    for k, values in enumerate(iter_slices(header)):
        centre = axis.at_z(k * dk)
        rings.add(k, values.astype(values_type) if values_type else values, (centre[0] / di, centre[1] / dj),
                  truth.core_radius_mm)
    return rings, axis, header.sizes[2], dk, truth


@pytest.mark.parametrize("flip", [False, True])
def test_the_finish_block_by_block_is_the_whole_unwrap(tmp_path: Path, flip: bool) -> None:
    """Blocks of 7 rows of a core tilted 8° (the circle reaches about ±6 slices: every block takes
    rings of its neighbours) give exactly the unwrap made in one block."""
    rings, axis, slices, dk, _ = phantom_rings(tmp_path, flip=flip, dip_deg=30.0, dip_direction_deg=120.0,
                                               tilt_deg=8.0, tilt_azimuth_deg=40.0)
    whole = sample_unwrap(rings, axis, slices, dk, flip=flip, block_rows=slices)
    blocks = list(unwrap_blocks(rings, axis, slices, dk, flip=flip, block_rows=7))
    assert len(blocks) == math.ceil(slices / 7) and all(len(b) <= 7 for b in blocks)
    assert np.isfinite(whole[20:-20]).all()
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


@pytest.mark.parametrize("tilt_deg", [0.0, 0.001, -0.001])
def test_a_straight_cores_first_and_last_rows_are_whole(tmp_path: Path, tilt_deg: float) -> None:
    """A fitted axis a hair off the scan axis (review: 0.001°) puts half the circle a hair above
    slice 0 and half below the last: the nearer slice stands in, no row is half missing."""
    rings, axis, slices, dk, _ = phantom_rings(tmp_path, dip_deg=0.0, tilt_deg=0.0)
    t = math.radians(tilt_deg)
    axis = SliceAxis(axis.point, (math.sin(t), 0.0, math.cos(t)))
    unwrap = sample_unwrap(rings, axis, slices, dk)
    assert np.isfinite(unwrap).all()


def test_the_finish_of_a_long_core_holds_blocks_not_the_unwrap(tmp_path: Path) -> None:
    """Memory: the rings of a 3,000-slice core wait in a file (in memory they were its 3,000 rows
    as float32, 16 MB), and writing its unwrap holds a block of rows and its temporaries, not
    the whole unwrap (before blocks: 3 times that)."""
    import tracemalloc

    from CoreBatchLoaderLib.analysis.slices import AnalysisContext
    from CoreBatchLoaderLib.dicom.geometry import CoreGeometry
    from CoreBatchLoaderLib.record import CoreRecord

    slices, size = 3000, 512
    analysis = UnwrapAnalysis(UnwrapRadius.parse("0.9"), (0.26, 0.26), folder=tmp_path)
    yy, xx = np.mgrid[0:size, 0:size]
    slice_values = np.where(np.hypot(xx - 250.0, yy - 260.0) < 240, 2000, -1000).astype(np.int16)
    section = find_core_section(slice_values, (0.26, 0.26))
    warm_up = UnwrapAnalysis(UnwrapRadius.parse("0.9"), (0.26, 0.26))
    warm_up.add_slice(0, slice_values, section)  # what the first ring imports (numpy.ma, 1 MB) is not the rings'
    warm_up.rings.close()  # type: ignore[union-attr]
    tracemalloc.start()
    try:
        for k in range(slices):
            analysis.add_slice(k, slice_values, section)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    geometry = CoreGeometry((size, size, slices), (0.0, 0.0, 0.0), ((0.26, 0.0, 0.0), (0.0, 0.26, 0.0),
                                                                   (0.0, 0.0, 0.5)), tuple(range(slices)))
    record = CoreRecord(name="long", source=str(tmp_path), series_uid="1.2.3", slices=slices)
    record.axis_point_lps, record.axis_direction_lps = [250 * 0.26, 260 * 0.26, 0.0], [0.0, 0.0, 1.0]  # the CT log's
    width = analysis.rings.width
    tracemalloc.start()
    try:
        analysis.finish(AnalysisContext(tmp_path, "long", geometry, record))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.unwrap, record.warnings
    header = read_header(tmp_path / record.unwrap)
    assert header.sizes[:2] == (width, slices)
    assert (read_slice(header, 0)[5:-5] == 2000).all()
    whole_unwrap = slices * width * 4
    assert held < 0.1 * whole_unwrap, (held, whole_unwrap)
    assert peak < 0.2 * whole_unwrap, (peak, whole_unwrap)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unwrap"]  # no ring file left behind


@pytest.mark.parametrize("text, expected", [("0.9", UnwrapRadius(0.9, False)), ("30mm", UnwrapRadius(30.0, True)),
                                            (" 12.5 mm", UnwrapRadius(12.5, True)), ("1", UnwrapRadius(1.0))])
def test_unwrap_radius_is_a_fraction_or_millimetres(text: str, expected: UnwrapRadius) -> None:
    assert UnwrapRadius.parse(text) == expected
    assert UnwrapRadius.parse(expected.text()) == expected


@pytest.mark.parametrize("count", [1, 2, 7, 32, 40])
def test_the_fraction_is_of_the_median_radius_of_the_first_sections(count: int) -> None:
    radii = list(np.random.default_rng(count).normal(55.0, 2.0, count))
    rings = Rings((256, 256), (0.5, 0.5))
    values = np.zeros((256, 256), np.int16)
    for k, radius in enumerate(radii):
        rings.add(k, values, (128.0, 128.0), radius)
    first = radii[:Rings.RADIUS_SLICES]
    # the ring's radius moves only by more than 1/32 pixel: within that of 0.9 × the median
    assert abs(rings.radius_mm - 0.9 * float(np.median(first))) <= 0.5 / 32 + 1e-12
    assert len(rings.core_radii_mm) == len(first)


@pytest.mark.parametrize("text", ["30", "0", "-1mm", "30 cm", "abc", ""])
def test_unwrap_radius_without_a_clear_meaning_is_refused(text: str) -> None:
    with pytest.raises(UnwrapRadiusError):
        UnwrapRadius.parse(text)


def angular_pattern_rings(centre_offset_px: Tuple[float, float], slices: int = 12) -> Tuple[Rings, SliceAxis]:
    """Rings of slices whose values depend on the angle about (250, 260) px only (8 dark and 8
    bright sectors, smooth), each sampled about a centre ``centre_offset_px`` off that axis
    (alternating in sign from slice to slice, as noisy centres are), and the true axis."""
    size, spacing = 512, 0.26
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    values = (1000.0 * np.sin(8.0 * np.arctan2(yy - 260.0, xx - 250.0))).astype(np.float32)
    rings = Rings((size, size), (spacing, spacing))
    for k in range(slices):
        sign = 1.0 if k % 2 else -1.0
        rings.add(k, values, (250.0 + sign * centre_offset_px[0], 260.0 + sign * centre_offset_px[1]), 60.0)
    return rings, SliceAxis((250.0 * spacing, 260.0 * spacing, 0.0), (0.0, 0.0, 1.0))


@pytest.mark.parametrize("offset_px", [(0.4, -0.3), (1.5, 0.75)])  # under a column (no gather), over one (gather)
def test_rings_about_a_centre_off_the_axis_are_turned_back_to_the_axis_angles(offset_px: Tuple[float, float],
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A ring sampled about a centre Δ off the axis sees the axis' angle θ at θ + (Δ × e_θ)/r:
    the finish turns it back, so a pattern that depends on the angle only comes out as the ring
    about the axis itself does — and, not turned, it would be off by the shift."""
    import CoreBatchLoaderLib.analysis.unwrap_finish as unwrap_module

    reference_rings, axis = angular_pattern_rings((0.0, 0.0))
    reference = sample_unwrap(reference_rings, axis, 12, 0.5)
    rings, _ = angular_pattern_rings(offset_px)
    turned = sample_unwrap(rings, axis, 12, 0.5)
    error = np.abs(turned - reference).max()
    monkeypatch.setattr(unwrap_module, "TURN_COLUMNS", 1e9)
    not_turned = np.abs(sample_unwrap(rings, axis, 12, 0.5) - reference).max()
    # the pattern's steepest slope: 1000 × 8 / r(px) per px of arc ≈ 35 HU a column
    assert error < 0.15 * not_turned, (error, not_turned)
    assert not_turned > 10.0


def test_a_slight_tilt_sliced_run_by_run_is_the_gathered_unwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tilted circle's two ways (a few runs of columns sliced one by one, or one gather over
    the block for many) give the same unwrap, with the core's ends (NaN neighbours) included."""
    rings, axis, slices, dk, _ = phantom_rings(tmp_path, dip_deg=30.0, dip_direction_deg=120.0, tilt_deg=0.6,
                                               tilt_azimuth_deg=40.0)
    from CoreBatchLoaderLib.analysis.unwrap_finish import _TiltedCircle

    assert 1 < len(_TiltedCircle(rings, axis, dk).runs) <= _TiltedCircle.GATHER_RUNS  # the sliced way
    sliced = sample_unwrap(rings, axis, slices, dk, block_rows=9)
    monkeypatch.setattr(_TiltedCircle, "GATHER_RUNS", 0)
    gathered = sample_unwrap(rings, axis, slices, dk, block_rows=9)
    assert np.isfinite(sliced).all()
    np.testing.assert_array_equal(sliced, gathered)


@pytest.mark.parametrize("values_type", ["int32", "int64"])
def test_a_core_widened_past_int16_has_the_same_unwrap(tmp_path: Path, values_type: str) -> None:
    """Unsigned 16-bit data with one grain beyond int16 after its intercept is written as int32
    (32-bit data as int64): its rings are those of the same values in int16 (the ring's weighted
    sum refused to cast int32 to float32, and such a core had no unwrap)."""
    options = dict(dip_deg=30.0, dip_direction_deg=120.0, tilt_deg=4.0)
    rings, axis, slices, dk, _ = phantom_rings(tmp_path / "int16", **options)
    wide_rings, *_ = phantom_rings(tmp_path / values_type, values_type=values_type, **options)
    np.testing.assert_array_equal(sample_unwrap(wide_rings, axis, slices, dk), sample_unwrap(rings, axis, slices, dk))
