"""The rock's cross-section in one slice (issue 12 item 1), on phantoms with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from CoreBatchLoaderLib.analysis.core_section import find_core_section
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, phantom_slice_hu

MIDDLE = 30


def section_of(phantom: CorePhantom, k: int = MIDDLE):
    values = np.rint(phantom_slice_hu(phantom, k)).astype(np.int16)
    return values, find_core_section(values, (phantom.pixel_spacing[1], phantom.pixel_spacing[0]))


def true_centre_ij(phantom: CorePhantom, k: int = MIDDLE):
    from CoreBatchLoaderLib.synthetic.phantoms import _slice_truth
    return np.array(_slice_truth(phantom, k)[0])


def test_bare_core_off_centre_gives_its_centre_and_diameter():
    phantom = CorePhantom(centre_mm=(9.0, -6.0), diameter_mm=58.0)
    _, section = section_of(phantom)
    assert section is not None and not section.lined
    assert np.abs(np.array(section.centre_ij) - true_centre_ij(phantom)).max() < 0.5
    assert abs(section.diameter_mm - 58.0) < 1.0


@pytest.mark.parametrize("liner", ["plastic", "aluminium"])
def test_liner_is_cut_away_when_the_core_lies_on_its_low_side(liner):
    phantom = CorePhantom(liner=liner, touching=True, touch_gap_mm=0.2, tilt_deg=2.0, tilt_azimuth_deg=90.0)
    values, section = section_of(phantom)
    assert section is not None and section.lined
    assert abs(section.diameter_mm - phantom.diameter_mm) < 1.0
    assert np.abs(np.array(section.centre_ij) - true_centre_ij(phantom)).max() < 1.0
    # nothing of the liner inside the mask: every masked pixel within the core's radius
    j, i = np.nonzero(section.mask)
    centre = true_centre_ij(phantom)
    distance_mm = np.hypot((i - centre[0]) * phantom.pixel_spacing[1], (j - centre[1]) * phantom.pixel_spacing[0])
    assert distance_mm.max() < phantom.diameter_mm / 2.0


def test_mask_is_eroded_against_partial_volume():
    phantom = CorePhantom(noise_hu=0.0, layers=CorePhantom().layers, liner="plastic", touching=True)
    values, section = section_of(phantom)
    inside = values[section.mask]
    assert inside.min() >= 2000 - 1  # no edge voxel mixing rock with air or liner
    full = np.count_nonzero(values > 1000)
    assert 0.85 * full < inside.size < full  # eroded, but by a rim only


@pytest.mark.parametrize("what", ["air", "foam", "cap", "cap_bare", "liner_only"])
def test_slices_without_core_give_none(what):
    phantom = {
        "air": CorePhantom(diameter_mm=0.0),
        "foam": CorePhantom(liner="plastic", foam=(MIDDLE,)),
        "cap": CorePhantom(liner="aluminium", caps=(MIDDLE,)),
        "cap_bare": CorePhantom(caps=(MIDDLE,)),
        "liner_only": CorePhantom(liner="plastic", diameter_mm=0.0),
    }[what]
    assert section_of(phantom)[1] is None


def test_rubble_is_a_section_with_voids():
    phantom = CorePhantom(liner="plastic", touching=True, rubble=(MIDDLE,))
    values, section = section_of(phantom)
    assert section is not None
    voids = np.count_nonzero(section.samples(values) < -500) / section.samples(values).size
    assert voids > 0.1


def test_a_lab_size_slice_is_read_on_a_sample_grid():
    phantom = CorePhantom(rows=512, columns=512, pixel_spacing=(0.26, 0.26), diameter_mm=120.0,
                          liner="aluminium", liner_inner_mm=126.0, touching=True, centre_mm=(4.0, 10.0))
    values, section = section_of(phantom)
    assert section.step > 1 and section.mask.shape == (512, 512)
    assert abs(section.diameter_mm - 120.0) < 1.0
    assert np.abs(np.array(section.centre_ij) - true_centre_ij(phantom)).max() < 2.0
    assert section.radius_ij_px[0] == pytest.approx(section.radius_mm / 0.26)
    samples = section.samples(values)
    assert 1000 < samples.size <= 2048 and samples.min() > 1000  # rock only, spread over the section
    j, i = np.unravel_index(section.sample_index, values.shape)
    assert abs(i.mean() - section.centre_ij[0]) < 2 * section.step and abs(j.mean() - section.centre_ij[1]) < 2 * section.step


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float32])
def test_a_threshold_in_the_voxels_own_type_selects_the_same_voxels(dtype):
    from CoreBatchLoaderLib.analysis.core_section import voxel_threshold
    values = np.arange(-1200, 1200).astype(dtype) if dtype != np.uint16 else np.arange(0, 2400).astype(dtype)
    for hu in (-500.0, -300.5, 299.9, 300.0, 0.5, -70000.0, 70000.0):
        assert np.array_equal(values > voxel_threshold(hu, values.dtype), values > hu)
        assert np.array_equal(values < voxel_threshold(hu, values.dtype, below=True), values < hu)


@pytest.mark.parametrize("along", ["rows", "columns"])
def test_an_open_fracture_is_inside_the_section_whichever_way_it_runs(along: str):
    """A 2 mm air fracture across the whole core (review: along the rows it fell outside the
    section, the void fraction read 0 and the diameter shrank; along the columns it was in)."""
    phantom = CorePhantom(diameter_mm=60.0)
    values, whole = section_of(phantom)
    centre_i, centre_j = (int(round(c)) for c in true_centre_ij(phantom))
    width = int(round(2.0 / phantom.pixel_spacing[0]))
    cracked = values.copy()
    if along == "rows":
        cracked[centre_j - width // 2:centre_j + width - width // 2, :] = -1000
    else:
        cracked[:, centre_i - width // 2:centre_i + width - width // 2] = -1000
    section = find_core_section(cracked, (phantom.pixel_spacing[1], phantom.pixel_spacing[0]))
    assert section is not None and abs(section.diameter_mm - whole.diameter_mm) < 1.0
    mask = section.mask
    crack_voxels = np.count_nonzero(mask & (cracked < -500))
    assert crack_voxels > 0.5 * 60.0 * width / phantom.pixel_spacing[0]  # most of the crack's length is inside
    assert abs(np.count_nonzero(mask) - np.count_nonzero(whole.mask)) < 0.02 * np.count_nonzero(whole.mask)
